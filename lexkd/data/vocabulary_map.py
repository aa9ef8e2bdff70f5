"""Teachers whose vocabulary holds the student's tokens under other ids: map them by token string.

all-mpnet-base-v2's vocabulary holds bert-base-uncased's 30,522 token strings at ids 4-30525, with
``<s> <pad> </s> <unk>`` before and ``<mask>`` after, and the same normaliser and pre-tokeniser: it
segments text exactly as the BERT vocabulary does, with other ids. Such a teacher can teach a BERT-vocabulary
student once its ids are translated:

- its **input**: each student id becomes the teacher id of the same token string; the student's special
  tokens become the teacher's tokens of the same role (``[CLS]`` -> ``<s>``, ``[SEP]`` -> ``</s>``,
  ``[PAD]`` -> ``<pad>``, ``[MASK]`` -> ``<mask>``, ``[UNK]`` -> the teacher's unknown token);
- its **output**: the teacher's ``(N, V_teacher)`` logits keep the column of each student id, in the
  student's order, giving ``(N, V_student)`` logits. The teacher's columns no student id maps to (its own
  special tokens, and e.g. MPNet's ordinary ``[CLS]`` string, which BERT uses as a special token) are
  dropped; a softmax over the kept columns renormalises (their mass at masked positions is negligible).

One index tensor serves both directions: ``to_teacher[student_id] = teacher_id``.

A map is made only when every student token string has a teacher counterpart and every ordinary teacher
token string is one of the student's (:func:`vocabulary_map` raises otherwise, naming the missing tokens),
and it is used only when the two tokenizers segment the corpus alike (:func:`check_segmentation`, on a
sample of the corpus at start-up). Teachers that segment differently stay refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from lexkd.data.tokenization import VocabularyMismatchError

__all__ = ["SPECIAL_ROLES", "VocabularyMap", "check_segmentation", "vocabulary_map"]

SPECIAL_ROLES = ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token", "bos_token", "eos_token")
"""Special-token roles mapped by role rather than by string (those the student's tokenizer defines)."""


@dataclass
class VocabularyMap:
    """Student ids -> teacher ids of the same token (``to_teacher``: ``(V_student,)`` long)."""

    to_teacher: torch.Tensor
    teacher_vocab_size: int

    def teacher_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` student token ids -> ``(B, T)`` the teacher's ids of the same tokens."""
        return self._index(input_ids.device)[input_ids]

    def student_logits(self, teacher_logits: torch.Tensor) -> torch.Tensor:
        """``(N, V_teacher)`` teacher logits -> ``(N, V_student)``: the column of each student id, in its order."""
        return teacher_logits.index_select(-1, self._index(teacher_logits.device))

    def _index(self, device) -> torch.Tensor:
        if self.to_teacher.device != torch.device(device):
            self.to_teacher = self.to_teacher.to(device)
        return self.to_teacher


def _special_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    added = {i for i, token in getattr(tokenizer, "added_tokens_decoder", {}).items() if token.special}
    return set(tokenizer.all_special_ids) | added


def vocabulary_map(student: PreTrainedTokenizerBase, teacher: PreTrainedTokenizerBase,
                   teacher_name: str = "teacher") -> VocabularyMap | None:
    """The map from ``student``'s ids to ``teacher``'s (module docstring), or None when the ids already agree.

    Raises:
        VocabularyMismatchError: a special-token role of the student that the teacher lacks; student tokens
            the teacher's vocabulary lacks, or ordinary teacher tokens the student's lacks (naming a few and
            the counts); two student ids that would map to one teacher id.
    """
    student_vocab, teacher_vocab = student.get_vocab(), teacher.get_vocab()
    if student_vocab == teacher_vocab:
        return None
    to_teacher = torch.full((len(student),), -1, dtype=torch.long)
    for role in SPECIAL_ROLES:
        student_token = getattr(student, role, None)
        if student_token is None:
            continue
        teacher_token = getattr(teacher, role, None)
        if teacher_token is None:
            raise VocabularyMismatchError(
                f"Teacher {teacher_name!r} has no {role.replace('_', ' ')} for the student's {student_token!r}: "
                "its ids cannot be mapped onto the student's. Use a teacher with the student's tokenizer.")
        to_teacher[student.convert_tokens_to_ids(student_token)] = teacher.convert_tokens_to_ids(teacher_token)
    by_role = to_teacher >= 0
    missing = []
    for token, index in student_vocab.items():
        if index < len(to_teacher) and not by_role[index]:
            if token in teacher_vocab:
                to_teacher[index] = teacher_vocab[token]
            else:
                missing.append(token)
    teacher_specials = _special_ids(teacher)
    extra = [token for token, index in teacher_vocab.items() if index not in teacher_specials and token not in student_vocab]
    if missing or extra or (to_teacher < 0).any():
        parts = []
        if missing:
            parts.append(f"{len(missing)} student tokens are not in the teacher's vocabulary (e.g. {missing[:5]})")
        if extra:
            parts.append(f"{len(extra)} teacher tokens are not in the student's (e.g. {extra[:5]})")
        if (to_teacher < 0).any() and not missing:
            parts.append(f"student ids {torch.nonzero(to_teacher < 0).flatten()[:5].tolist()} have no token string")
        raise VocabularyMismatchError(
            f"Teacher {teacher_name!r}'s vocabulary ({len(teacher_vocab)} tokens) maps onto the student's "
            f"({len(student_vocab)}) only in part: {'; '.join(parts)}. A teacher can teach this student only when "
            "both vocabularies hold the same token strings: use a teacher with the student's tokenizer.")
    if torch.unique(to_teacher).numel() != to_teacher.numel():
        raise VocabularyMismatchError(
            f"Two of the student's tokens map to one token of teacher {teacher_name!r} (its special tokens share "
            "ids): the map would not be one-to-one. Use a teacher with the student's tokenizer.")
    return VocabularyMap(to_teacher=to_teacher, teacher_vocab_size=len(teacher))


def check_segmentation(student: PreTrainedTokenizerBase, teacher: PreTrainedTokenizerBase, texts: Iterable[str],
                       mapping: VocabularyMap | None, teacher_name: str = "teacher") -> int:
    """Check that ``teacher`` segments each of ``texts`` into the same tokens as ``student``; return how many
    texts were checked.

    With ``mapping``, the student's ids are translated before comparing; without, the ids must be equal.
    Special-token strings that occur in the text are split as ordinary text by both tokenizers (their own
    special tokens differ by design: ``[MASK]`` against ``<mask>``).

    Raises:
        VocabularyMismatchError: naming the first text that segments differently and where it differs.
    """
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        return 0
    # Special-token strings written in the text (WikiText's "<unk>", an MPNet special token) are split as
    # plain text by both: what is compared is the normaliser, pre-tokeniser and subword model.
    student_ids = student(texts, add_special_tokens=False, split_special_tokens=True, verbose=False)["input_ids"]
    teacher_ids = teacher(texts, add_special_tokens=False, split_special_tokens=True, verbose=False)["input_ids"]
    for text, ours, theirs in zip(texts, student_ids, teacher_ids, strict=True):
        mapped = ours if mapping is None else mapping.to_teacher[torch.tensor(ours, dtype=torch.long)].tolist()
        if mapped != theirs:
            at = next((i for i, (a, b) in enumerate(zip(mapped, theirs, strict=False)) if a != b), min(len(mapped), len(theirs)))
            raise VocabularyMismatchError(
                f"Teacher {teacher_name!r} segments this corpus text differently from the student's tokenizer "
                f"(at token {at}: student {student.convert_ids_to_tokens(ours[at:at + 3])} vs teacher "
                f"{teacher.convert_ids_to_tokens(theirs[at:at + 3])}): {text[:120]!r}. Its predictions cannot be "
                "mapped onto the student's tokens: use a teacher with the student's tokenizer.")
    return len(texts)
