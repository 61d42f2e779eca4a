"""The special-token ids are named once, next to the vocabulary, and every Vocab agrees with them."""

from mmml.data.digit_sequences import VOCAB_EN, VOCAB_FR
from mmml.data.text import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, UNK, UNK_ID, Vocab


def test_special_ids_name_the_specials_of_every_vocabulary():
    for vocab in (Vocab(["a", "b"]), VOCAB_EN, VOCAB_FR):
        assert [vocab.tokens[i] for i in (PAD_ID, UNK_ID, BOS_ID, EOS_ID)] == [PAD, UNK, BOS, EOS]
        assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    v = Vocab(["a", "b"])
    assert v.decode([v.index["a"], BOS_ID, v.index["b"], EOS_ID, v.index["a"]]) == ["a", "b"]
