"""Why each surviving mutant of the last mutmut run survives (read by report.py). Keys of
DISPOSITIONS are mutant names or fnmatch patterns; KINDS match the mutated line. Reasons start with
EQUIVALENT (no input can tell the mutant from the code), KILLED BY <test> (a test added since that
run fails on it: checked by applying the mutant with ``mutmut apply``), or OPEN (not killed, with why
it was left)."""
from __future__ import annotations

EQ = "EQUIVALENT: "
OPEN = "OPEN: "

DISPOSITIONS = {
    # verdicts: vote / worst / mean
    "zoo.evaluation.verdicts.x__as_arrays__mutmut_3": EQ + "predictions are only compared for equality with integer "
    "labels and class numbers; any numeric dtype compares alike",
    "zoo.evaluation.verdicts.x__as_arrays__mutmut_5": EQ + "as _as_arrays__mutmut_3",
    "zoo.evaluation.verdicts.x_vote_correct__mutmut_13": EQ + "one more class column holds zero votes, below the "
    "label's count or tied with other zero counts; the strict comparison is unchanged",
    "zoo.evaluation.verdicts.x_vote_correct__mutmut_24": EQ + "any negative stand-in for the label's own count is "
    "below every other (non-negative) count",
}

KINDS = {
    # the wording of an error message: the tests match the message where it tells the user what to do
    r'raise \w+\((None|f?"XX|f?"[^a-z]*[A-Z]{4})': OPEN + "the wording of an error message (the error itself is "
    "raised and tested)",
}

NOT_RUN: dict[str, str] = {}
