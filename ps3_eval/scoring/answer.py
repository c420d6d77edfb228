"""What the scorers see of a model's reply: its answer, without reasoning or surrounding space.

Reasoning models write their thoughts before the answer, in tags (``<think>...</think>``,
``<analysis>...</analysis>``). A scorer must not read them: "<think>maybe blue</think>red" answers
"red". The runner turns every reply into the text scored here, once, for every backend, so a
backend never trims or cleans its own output; the record keeps the reply as it came.
"""

from __future__ import annotations

import re

REASONING_TAGS = ("think", "thinking", "analysis", "reasoning")
"""Tags whose content is reasoning, not the answer."""

_NAMES = "|".join(REASONING_TAGS)
_BLOCK = re.compile(rf"<({_NAMES})(?:\s[^>]*)?>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_OPEN = re.compile(rf"<(?:{_NAMES})(?:\s[^>]*)?>", re.IGNORECASE)
_CLOSE = re.compile(rf"</(?:{_NAMES})\s*>", re.IGNORECASE)


def answer_text(raw: str) -> str:
    r"""The answer in a model's reply, as every scorer and judge reads it.

    Removes reasoning blocks (``<think>``, ``<thinking>``, ``<analysis>``, ``<reasoning>``, any
    case); a closing tag left alone ends reasoning that began in the prompt (chat templates that
    open ``<think>`` themselves), so everything before it goes; an opening tag left alone starts
    reasoning that was cut off, so everything after it goes. Then trims white space.

    >>> answer_text("<think>maybe blue</think>red ")
    'red'
    >>> answer_text("maybe blue</think>\n\nred")
    'red'
    """
    text = _BLOCK.sub(" ", raw)
    closes = list(_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    return text.strip()
