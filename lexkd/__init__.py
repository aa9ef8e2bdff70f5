"""lexkd: knowledge distillation for language models from several teachers and from WordNet."""

__version__ = "0.1.0"
