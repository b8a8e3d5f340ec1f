"""Does the tuned prompt also move the model's GlobalOpinionQA answers toward the country?

The survey paper found that survey loss fell while general cultural knowledge did not rise.
This check asks ``n`` GlobalOpinionQA questions that the country answered (Durmus et al. 2023,
bundled slice), with 2-5 numbered options each. The answer distribution is the softmax over
"1".."K", which is the "1".."5" softmax renormalized over the first K. The check reports the
mean Jensen-Shannon distance (base 2, in [0, 1]) to the country's distribution for the plain
model, the persona prompt and the optimized prompt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from raysearch.data.goqa import load_goqa
from raysearch.data.records import DistributionRecord
from raysearch.errors import UserInputError
from raysearch.metrics.distribution import js_distance
from raysearch.softprompt.survey import Item, Survey

#: Hofstede file name -> GlobalOpinionQA community names, where they differ. A region of the Hofstede
#: file is the GlobalOpinionQA countries it covers: "Arab countries" is Hofstede's cluster of Egypt,
#: Iraq, Kuwait, Lebanon, Libya, Saudi Arabia and the U.A.E. (Hofstede et al. 2010, "Cultures and
#: Organizations", 3rd ed.), of which the slice has the first five; each question keeps its own
#: country's answers.
GOQA_NAMES: dict[str, tuple[str, ...]] = {
    "U.S.A.": ("United States",),
    "Great Britain": ("Britain",),
    "Korea South": ("S. Korea",),
    "South Africa": ("S. Africa",),
    "India": ("India (Current national sample)",),
    "Arab countries": ("Egypt", "Iraq", "Kuwait", "Lebanon", "Libya"),
}
INSTRUCTION = "Reply with the number of one option."


def goqa_survey(country: str, n: int, *, seed: int) -> tuple[Survey, list[DistributionRecord]]:
    """Up to ``n`` of the country's GlobalOpinionQA questions (2-5 options) as a survey."""
    names = GOQA_NAMES.get(country, (country,))
    records = [r for r in load_goqa().records if r.community in names and 2 <= len(r.options) <= 5]
    if not records:
        raise UserInputError(
            f"the bundled GlobalOpinionQA slice has no question for {country!r}; drop --goqa or "
            "pick a country it covers (e.g. China, India, Mexico, 'U.S.A.', 'Arab countries')"
        )
    name = names[0] if len(names) == 1 else f"{country} ({', '.join(names)})"
    order = np.random.default_rng(seed).permutation(len(records))[:n]
    chosen = [records[i] for i in sorted(order)]
    items = tuple(Item(number=k + 1, text=r.prompt.strip(), options=tuple(r.options)) for k, r in enumerate(chosen))
    return Survey(name=f"GlobalOpinionQA {name}", items=items, dimensions=(), instruction=INSTRUCTION), chosen


def js_per_question(probs: torch.Tensor, records: list[DistributionRecord]) -> np.ndarray:
    """probs (I, 5) from the scorer -> the JS distance of each question; each keeps its first K options, renormalized."""
    distances = []
    for row, record in zip(probs, records, strict=True):
        k = len(record.options)
        distances.append(js_distance(row[:k].double().tolist(), record.distribution))
    return np.array(distances)


def mean_js(probs: torch.Tensor, records: list[DistributionRecord]) -> float:
    """Mean over questions of ``js_per_question``."""
    return float(js_per_question(probs, records).mean())


#: prompt pairs whose JS distances are compared question by question
PAIRS = (("optimized", "persona"), ("optimized", "naive"), ("persona", "naive"))


def goqa_report(per_question: dict[str, np.ndarray], n_questions: int, *, n_boot: int = 2000,
                seed: int = 0) -> dict[str, Any]:
    """Mean JS distance of each prompt, and the paired differences over the same questions with
    95% bootstrap intervals (questions resampled; ``raysearch.metrics.paired.paired_difference``)."""
    from raysearch.metrics.paired import paired_difference

    diffs = {}
    for a, b in PAIRS:
        if a in per_question and b in per_question:
            iv = paired_difference(per_question[a], per_question[b], n_boot=n_boot, seed=seed)
            diffs[f"{a} - {b}"] = {"value": iv.value, "low": iv.low, "high": iv.high}
    return {"questions": n_questions, "mean_js_distance": {k: float(np.mean(v)) for k, v in per_question.items()},
            "js_per_question": {k: [float(x) for x in v] for k, v in per_question.items()},
            "paired_difference": diffs}
