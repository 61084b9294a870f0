"""A small tokenizer built locally, for the ``tiny`` model sizes, tests and the embedded default.

The full models use the PaliGemma and Gemma3 tokenizers from the Hub (both gated under the Gemma licence). Tiny
models need a tokenizer that exists with no network: this module trains a byte-level BPE (so it encodes any text)
on a fixed corpus covering the RECAP prompts (tasks, 256-bin state digits, the advantage clause), deterministically,
in well under a second, and saves it in the ``transformers`` format so ``AutoTokenizer.from_pretrained(dir)``
loads it like any Hub tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

PAD, EOS, BOS, UNK = "<pad>", "<eos>", "<bos>", "<unk>"

_BASE_CORPUS = [
    "Task: hand the cube over from the left arm to the right arm, State: ",
    "Advantage: positive", "Advantage: negative", "Advantage: none",
    "Left advantage: positive, Right advantage: negative",
    ";\nAction: ", "\nValue:", "Value: ",
    "hand the cube from the left arm to the right arm and place it on the green target",
    "pick up the cube", "place the object", "grasp the papercup and hand it over to the other arm",
    "push the block to the target", "open the drawer", "fold the towel", "insert the peg",
    " ".join(str(i) for i in range(256)),
]


def build_local_tokenizer(save_dir: str | Path | None = None, vocab_size: int = 512, extra_corpus: Iterable[str] = ()):
    """Train the local byte-level BPE tokenizer; save it to ``save_dir`` if given. Returns a fast tokenizer.

    Token ids: ``<pad>`` 0, ``<eos>`` 1, ``<bos>`` 2, ``<unk>`` 3. A ``<bos>`` is prepended to every sequence,
    as with the PaliGemma tokenizer.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, EOS, BOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = list(_BASE_CORPUS) + list(extra_corpus)
    tokenizer.train_from_iterator(corpus * 4, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, tokenizer.token_to_id(BOS))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token=PAD, eos_token=EOS, bos_token=BOS, unk_token=UNK
    )
    if save_dir is not None:
        fast.save_pretrained(str(save_dir))
    return fast
