"""sslrec: a TFX pipeline for two-tower retrieval with a self-supervised item-tower loss."""
from setuptools import find_packages, setup

setup(
    name='sslrec',
    version='0.1.0',
    description=('TFX pipeline training TFRS two-tower retrieval models with a '
                 'contrastive self-supervised loss (correlated feature masking).'),
    python_requires='>=3.9,<3.11',
    packages=find_packages(include=['pipeline', 'pipeline.*', 'components',
                                    'components.*', 'models', 'models.*',
                                    'schemas', 'sslrec']),
    package_data={'schemas': ['*/*.pbtxt']},
    install_requires=[
        'tfx==1.16.0',
        'tensorflow>=2.16,<2.17',
        'tf-keras>=2.16,<2.17',
        'tensorflow-recommenders==0.7.7',
        'tensorflow-transform==1.16.0',
        'tensorflow-data-validation>=1.16,<1.17',
        'ml-metadata==1.16.0',
        'apache-beam[gcp]>=2.53,<2.75',
        'dill',  # tensorflow-transform 1.16 imports dill; apache-beam >= 2.65 stopped installing it
        'kfp-pipeline-spec==0.2.2',  # KubeflowV2DagRunner (compile for Vertex); 0.3 needs protobuf 4
        'protobuf==3.20.3',
        'tensorflow-serving-api==2.16.1',  # warmup requests (PredictionLog) in pushed SavedModels
        'pyyaml',
        'matplotlib',
        'numpy<2',
        'pandas',
    ],
    extras_require={
        'test': ['pytest', 'pytest-xdist', 'scikit-learn'],
        # Approximate index (evaluation.index_kind: scann); 1.3.2 matches TF 2.16.
        'scann': ['scann==1.3.2'],
    },
    entry_points={'console_scripts': ['sslrec=pipeline.cli:main']},
)
