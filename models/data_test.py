"""models/data.py: ids decoded as UTF-8, never as ASCII."""
import numpy as np

from models import data


def test_utf8_strings_decode_every_id_byte_exactly():
  ids = ['Misérables, Les (1995)', '東京物語', '🎬 42', 'plain']
  raw = np.array([i.encode('utf-8') for i in ids], dtype=object)
  decoded = data.utf8_strings(raw)
  assert decoded.tolist() == ids
  assert [d.encode('utf-8') for d in decoded] == raw.tolist()
  assert data.utf8_strings(np.array(ids, dtype=object)).tolist() == ids
