"""The Trainer's loss names: TensorBoard tags, Keras logs and report curves.

A module of its own so that readers of training logs (pipeline/run_records.py)
need not import TensorFlow.
"""
MAIN_LOSS = 'main_loss'        # in-batch softmax of the retrieval task
SSL_LOSS = 'ssl_loss'          # item-side contrastive loss (models/ssl.py)
TOTAL_LOSS = 'total_loss'      # main + ssl_weight * ssl + seq_ssl_weight * seq_ssl
SEQ_SSL_LOSS = 'seq_ssl_loss'  # user-side sequence loss (models/seq_ssl.py)
LOSS_NAMES = (MAIN_LOSS, SSL_LOSS, TOTAL_LOSS, SEQ_SSL_LOSS)
