"""Search spaces: the schema, validation with one-line errors, and Tune/Optuna conversion (files: ``space_files``)."""

from __future__ import annotations

import difflib
import warnings
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from raysearch.errors import UserInputError
from raysearch.methods.registry import NAMES
from raysearch.tune.scheduler import SchedulerSpec

#: Experiments a search space can drive: the methods of ``raysearch.methods.registry``.
EXPERIMENTS = NAMES
#: Optuna samplers by their name in a space file.
SAMPLERS = ("nsga2", "tpe", "gp", "random")
#: Parameter types in a space file.
PARAM_TYPES = ("float", "int", "categorical")
#: What one can override from the command line.
OVERRIDABLE = ("num_samples", "max_concurrent", "sampler", "seed", "seed_reruns", "scheduler", "resources")

_NONE_HINT = "the string 'None' is not YAML's null: write null (or ~), or a value"


class _KeyError(ValueError):
    """Raised inside validators: ``path`` is relative to where pydantic reports the error."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class FloatParam(_Model):
    """A real parameter drawn uniformly, or log-uniformly, from [low, high]."""

    type: Literal["float"]
    low: float = Field(description="lower bound (inclusive)")
    high: float = Field(description="upper bound; must be > low")
    log: bool = Field(default=False, description="sample log-uniformly (needs low > 0)")

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        return self


class IntParam(_Model):
    """An integer parameter drawn from {low, low + step, ..., high} (high included)."""

    type: Literal["int"]
    low: int = Field(description="lower bound (inclusive)")
    high: int = Field(description="upper bound (inclusive); must be > low")
    step: int = Field(default=1, ge=1, description="spacing of the allowed values")
    log: bool = Field(default=False, description="sample log-uniformly (needs low > 0 and step 1)")

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise _KeyError(("step",), f"step={self.step} cannot go with log=true; use step 1")
        if (self.high - self.low) % self.step:
            raise _KeyError(
                ("high",),
                f"high - low = {self.high - self.low} is not a multiple of "
                f"step={self.step}; e.g. high={self.high - (self.high - self.low) % self.step}",
            )
        return self


class CategoricalParam(_Model):
    """A parameter drawn from a list of choices (strings, numbers, booleans or null)."""

    type: Literal["categorical"]
    choices: list[Any] = Field(description="the values to choose from, at least one, no repeats")

    @field_validator("choices")
    @classmethod
    def _check(cls, choices: list[Any]) -> list[Any]:
        if not choices:
            raise _KeyError((), "is empty; give at least one choice, e.g. [constant, linear]")
        for i, c in enumerate(choices):
            if c == "None":
                raise _KeyError((i,), _NONE_HINT)
            if c is not None and not isinstance(c, str | int | float | bool):
                raise _KeyError((i,), f"{c!r} is not a string, number, boolean or null")
            if c in choices[:i]:
                raise _KeyError((i,), f"{c!r} is repeated; each choice once")
        return choices


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]
_PARAM_MODELS: dict[str, type[_Model]] = {
    "float": FloatParam,
    "int": IntParam,
    "categorical": CategoricalParam,
}


class Objective(_Model):
    """A metric every trial reports, and its direction."""

    metric: str = Field(
        min_length=1, description="metric name reported by each trial, e.g. val/mean_acc"
    )
    mode: Literal["max", "min"] = Field(description="max or min")


class Resources(_Model):
    """What one trial asks Ray for: one worker trains in the trial's own process (holding its CPUs and
    GPUs); several make the trial a Ray Train run of ``workers`` DDP workers."""

    workers: int = Field(default=1, ge=1, description="workers per trial (1: in the trial's process; more: Ray Train DDP)")
    cpus_per_worker: float = Field(default=1.0, ge=0, description="CPUs per worker")
    gpus_per_worker: float = Field(
        default=0.0, ge=0, description="GPUs per worker (fractions allowed)"
    )


class SearchSpace(_Model):
    """One search: what to tune over which ranges, towards which two objectives, on what budget."""

    experiment: str = Field(description=f"what is trained: one of {', '.join(EXPERIMENTS)}")
    description: str | None = Field(default=None, description="free text")
    objectives: list[Objective] = Field(
        description="exactly two metrics, each with mode max or min"
    )
    reference_point: list[float] = Field(
        description="hypervolume reference, one value per objective"
    )
    sampler: str = Field(
        default="nsga2", description=f"Optuna sampler: one of {', '.join(SAMPLERS)}"
    )
    seed: int = Field(default=0, description="sampler seed (and the base training seed)")
    num_samples: int = Field(default=10, ge=1, description="trial budget (number of trials)")
    max_concurrent: int = Field(default=1, ge=1, description="trials running at once")
    seed_reruns: int = Field(
        default=2, ge=0, description="after the search, retrain every Pareto configuration and baseline with "
        "this many more seeds and read them on test (bt and scpo; 0 reads test on the searched models only)"
    )
    population_size: int | None = Field(
        default=None,
        ge=2,
        description="NSGA-II population (other samplers ignore it); "
        "default min(50, max(4, num_samples // 3)): a small budget still sees several generations",
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(), description="per-trial resources"
    )
    fixed: dict[str, Any] = Field(
        default_factory=dict, description="training options fixed for all trials"
    )
    scheduler: SchedulerSpec = Field(
        default_factory=lambda: SchedulerSpec(), description="early stopping of trials (raysearch.tune.scheduler)"
    )
    params: dict[str, Param] = Field(description="the searched parameters, by training-option name")

    _source: str = PrivateAttr("<dict>")
    _valid_keys: frozenset[str] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> SearchSpace:
        if self.experiment not in EXPERIMENTS:
            raise _KeyError(
                ("experiment",), f"{self.experiment!r} is unknown; valid: {', '.join(EXPERIMENTS)}"
            )
        if self.sampler not in SAMPLERS:
            raise _KeyError(
                ("sampler",), f"{self.sampler!r} is unknown; valid: {', '.join(SAMPLERS)}"
            )
        if len(self.objectives) != 2:
            raise _KeyError(
                ("objectives",),
                f"{len(self.objectives)} given; exactly two are needed, e.g. "
                "[{metric: val/mean_acc, mode: max}, {metric: val/worst_acc, mode: max}]",
            )
        if self.objectives[0].metric == self.objectives[1].metric:
            raise _KeyError(
                ("objectives", 1, "metric"),
                f"{self.objectives[1].metric!r} repeats the first "
                "objective; give two different metrics",
            )
        if len(self.reference_point) != len(self.objectives):
            raise _KeyError(
                ("reference_point",),
                f"{len(self.reference_point)} values given; need one per "
                f"objective ({len(self.objectives)}), e.g. [0.5, 0.3]",
            )
        if not self.params:
            raise _KeyError(("params",), "is empty; give at least one parameter to search")
        valid = (info.context or {}).get("valid_keys")
        for block, names in (("params", self.params), ("fixed", self.fixed)):
            for name in names:
                if valid is not None and name not in valid:
                    close = difflib.get_close_matches(name, sorted(valid), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise _KeyError(
                        (block, name),
                        f"{name!r} is not a training option{hint}; valid: "
                        f"{', '.join(sorted(valid))}",
                    )
        for name, value in self.fixed.items():
            if name in self.params:
                raise _KeyError(
                    ("fixed", name),
                    f"{name!r} is both fixed and searched; remove it from fixed or from params",
                )
            if value == "None":
                raise _KeyError(("fixed", name), _NONE_HINT)
        if self.scheduler.kind == "moasha" and self.fixed.get("eval_every", 1) == 0:
            raise _KeyError(("fixed", "eval_every"), "0 cannot go with scheduler moasha, which needs validation "
                            "reports within a trial; drop it (default: scheduler.grace) or give steps > 0")
        return self

    @property
    def metrics(self) -> list[str]:
        """The two objective metric names, in order."""
        return [o.metric for o in self.objectives]

    @property
    def modes(self) -> list[str]:
        """The two objective directions (``max``/``min``), in order."""
        return [o.mode for o in self.objectives]

    @property
    def source(self) -> str:
        """Where this space came from (a file path, or ``<dict>``)."""
        return self._source

    @property
    def nsga2_population_size(self) -> int:
        """``population_size``, or the default that suits the budget."""
        return self.population_size or min(50, max(4, self.num_samples // 3))

    @classmethod
    def from_dict(
        cls,
        data: Any,
        *,
        source: str = "<dict>",
        valid_keys: set[str] | frozenset[str] | None = None,
    ) -> SearchSpace:
        """Validate a parsed space; any problem is one ``UserInputError`` line naming ``source``."""
        if not isinstance(data, dict):
            raise UserInputError(
                f"{source}: the top level must be a mapping with keys "
                f"{', '.join(cls.model_fields)}; got {type(data).__name__}"
            )
        keys = frozenset(valid_keys) if valid_keys is not None else None
        try:
            space = cls.model_validate(data, context={"valid_keys": keys})
        except ValidationError as exc:
            raise UserInputError(f"{source}: {_one_line(exc)}") from None
        space._source, space._valid_keys = source, keys
        return space

    def with_overrides(self, **overrides: Any) -> SearchSpace:
        """A validated copy with command-line overrides; a value of None means "not given"."""
        unknown = sorted(set(overrides) - set(OVERRIDABLE))
        if unknown:
            raise UserInputError(
                f"cannot override {', '.join(unknown)}; valid: {', '.join(OVERRIDABLE)}"
            )
        given = {k: v for k, v in overrides.items() if v is not None}
        data = {**self.model_dump(), **given}
        label = f"{self._source} with overrides {', '.join(f'{k}={v!r}' for k, v in given.items())}"
        out = SearchSpace.from_dict(data, source=label, valid_keys=self._valid_keys)
        out._source = self._source
        return out

    def to_tune_param_space(self) -> dict[str, Any]:
        """Each parameter as a Ray Tune domain; OptunaSearch makes Optuna distributions of them."""
        from ray import tune  # --- Ray --- (imported here: loading a space needs no Ray)

        out: dict[str, Any] = {}
        for name, p in self.params.items():
            if isinstance(p, FloatParam):
                out[name] = tune.loguniform(p.low, p.high) if p.log else tune.uniform(p.low, p.high)
            elif isinstance(p, IntParam):
                if p.step > 1:  # qrandint includes its upper bound
                    out[name] = tune.qrandint(p.low, p.high, p.step)
                elif p.log:  # randint and lograndint exclude theirs
                    out[name] = tune.lograndint(p.low, p.high + 1)
                else:
                    out[name] = tune.randint(p.low, p.high + 1)
            else:
                out[name] = tune.choice(list(p.choices))
        return out

    def to_optuna_distributions(self) -> dict[str, Any]:
        """Each parameter as an ``optuna.distributions.BaseDistribution`` (bounds inclusive)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out: dict[str, Any] = {}
        for name, p in self.params.items():
            if isinstance(p, FloatParam):
                out[name] = FloatDistribution(p.low, p.high, log=p.log)
            elif isinstance(p, IntParam):
                out[name] = IntDistribution(p.low, p.high, log=p.log, step=p.step)
            else:
                out[name] = CategoricalDistribution(list(p.choices))
        return out

    @property
    def startup_trials(self) -> int:
        """Random trials before TPE or GP model the results: Optuna's 10, but at most a third of the budget
        (at least 4), so a small search is not random search throughout."""
        return min(10, max(4, self.num_samples // 3))

    def make_sampler(self) -> Any:
        """The Optuna sampler named by ``sampler``, seeded by ``seed`` (all take two objectives)."""
        import optuna

        if self.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(
                seed=self.seed, population_size=self.nsga2_population_size
            )
        if self.sampler == "tpe":
            with warnings.catch_warnings():  # multivariate TPE is flagged experimental; we want it
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.samplers.TPESampler(seed=self.seed, multivariate=True,
                                                  n_startup_trials=self.startup_trials)
        if self.sampler == "gp":  # log EHVI for several objectives (Optuna >= 4.2)
            return optuna.samplers.GPSampler(seed=self.seed, n_startup_trials=self.startup_trials)
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=self.seed)
        raise UserInputError(f"sampler {self.sampler!r} is unknown; valid: {', '.join(SAMPLERS)}")


def _one_line(exc: ValidationError) -> str:
    """The first error as ``key.path: what is wrong; what is valid``."""
    err = exc.errors(include_url=False)[0]
    raw = tuple(err["loc"])
    loc = _clean(raw)
    kind, value = err["type"], err.get("input")
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, _KeyError):
        loc, msg = loc + cause.path, cause.message
    elif kind == "extra_forbidden":
        model = _model_at(raw[:-1])
        fields = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(raw[-1]), fields, n=1)
        msg = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
        msg += f"; valid keys here: {', '.join(fields)}" if fields else ""
    elif kind == "missing":
        msg = "required key is missing"
    elif kind == "union_tag_not_found":
        msg = f"needs a type: one of {', '.join(PARAM_TYPES)}"
    elif kind == "union_tag_invalid":
        loc, msg = (
            loc + ("type",),
            f"{ctx.get('tag')!r} is unknown; valid: {', '.join(PARAM_TYPES)}",
        )
    else:
        msg = f"{err['msg']}, got {_short(value)}"
        if value == "None":
            msg += f" ({_NONE_HINT})"
    return f"{'.'.join(str(k) for k in loc) or '(top level)'}: {msg}"


def _clean(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the discriminator tag pydantic inserts: params.tau.float.low -> params.tau.low."""
    if len(loc) >= 3 and loc[0] == "params" and loc[2] in PARAM_TYPES:
        return loc[:2] + loc[3:]
    return loc


def _model_at(raw: tuple[Any, ...]) -> type[BaseModel] | None:
    if raw == ():
        return SearchSpace
    if raw == ("resources",):
        return Resources
    if raw == ("scheduler",):
        return SchedulerSpec
    if len(raw) == 2 and raw[0] == "objectives":
        return Objective
    if len(raw) == 3 and raw[0] == "params":
        return _PARAM_MODELS.get(raw[2])
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_range(low: float, high: float, log: bool) -> None:
    if not low < high:
        raise _KeyError(("low",), f"low={low} must be < high={high}: the range is empty")
    if log and low <= 0:
        raise _KeyError(("low",), f"low={low} must be > 0 with log=true (or set log: false)")
