"""The reward a GenRM is trained with (GRPO): the trainer recipe's `reward:` section.

    reward:
      kind: hybrid            # hybrid (R_rat * R_out) | outcome | rationale | weighted
      matcher: {kind: embedding, options: {thresholds: [...]}}

`genrm.reward.rewards.make_reward(cfg, style)` builds the reward it describes and
`matcher_from_config(cfg.matcher)` its matcher. (A trained GenRM used as a policy's
reward is configured by `genrm.rlhf.service.ServiceConfig`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from genrm.config import RecipeError


@dataclass
class MatcherConfig:
    kind: Literal["embedding", "lexical", "llm"] = "embedding"
    options: dict[str, Any] = field(default_factory=dict)  # thresholds, device, model, max_retries ...
    backend: Optional[dict[str, Any]] = None  # llm: a make_backend config, e.g. {kind: openai, base_url: ...}


@dataclass
class RewardConfig:
    kind: Literal["hybrid", "outcome", "rationale", "weighted"] = "hybrid"
    weights: list[float] = field(default_factory=lambda: [0.5, 0.5])  # weighted: (outcome, rationale)
    outcome_scale: Literal["binary", "signed"] = "binary"
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    match_wrong_verdicts: bool = True
    max_model_units: int = 10  # reasons matched per completion; the rest are ignored
    defenses: Optional[dict[str, Any]] = None  # genrm.reward.defenses thresholds, or {enabled: false}
    # Training stops when more than this share of matched rows fails (a dead or misnamed
    # MetaJudge: their reward is None, no advantage) in `match_failure_steps` logged steps in a row; null: never
    max_match_failure_rate: Optional[float] = 0.05
    match_failure_steps: int = 3

    def validate(self) -> None:
        r = self.max_match_failure_rate
        if r is not None and not 0.0 <= r < 1.0:
            raise RecipeError(f"reward.max_match_failure_rate must be in [0, 1) or null (never stop), got {r}")
        if self.match_failure_steps < 1:
            raise RecipeError(f"reward.match_failure_steps must be >= 1, got {self.match_failure_steps}")
