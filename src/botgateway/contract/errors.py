"""The contract's one exception: a value the gateway would refuse, named by its field path."""


class ContractError(ValueError):
    """`field` is the dotted path inside one bot (`handler.url`), `problem` says what is wrong.

    Callers add where the bot lives (`bots[0]` in a file, `spec.bots[0]` in a resource)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"field {field!r}: {problem}")
