"""``keel.tune``: hyperparameter search with Optuna, trials in parallel on an executor.

::

    best = keel.tune(objective, space={"lr": keel.tune.loguniform(1e-4, 1),
                                       "depth": keel.tune.int(2, 12)},
                     n_trials=50, direction="maximize", executor="process")
    best.params, best.value

The coordinator owns the Optuna study: it asks for parameters, ships each trial to the
executor, and tells the study the result. A trial runs ``objective(**params)`` (also passing
``trial=`` if the objective takes it, for ``trial.report`` and pruning) inside its own tracked
run, nested under the tuning run; the best parameters and value are logged on that parent run.
An objective may also be a :class:`~keel.pipelines.Pipeline`: each trial then runs the pipeline
with the trial's parameters (its steps are cached across trials) and uses its output.

Pruning works on every executor: a trial gets a copy of the study's finished trials when it
starts and asks the pruner against those; its reports travel back with its result.
"""

from __future__ import annotations

import builtins
import inspect
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, InvalidStateError, MissingDependencyError
from keel.errors import near_matches as _near

if TYPE_CHECKING:
    from keel.pipelines.executors import Executor
    from keel.store import RunInfo

__all__ = [
    "Distribution",
    "choice",
    "float_range",
    "int_range",
    "loguniform",
    "uniform",
    "Pruned",
    "Trial",
    "TrialResult",
    "TuneResult",
    "run_trial_task",
    "tune",
]


class Pruned(Exception):
    """Raise inside an objective to stop an unpromising trial (``trial.prune()`` does it)."""


@dataclass(frozen=True)
class Distribution:
    """A search range of one parameter; build them with ``keel.tune.uniform`` and friends."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def to_optuna(self) -> Any:
        """Return the equivalent ``optuna.distributions`` object."""
        from optuna import distributions as d

        if self.kind == "float":
            low, high = float(self.low or 0.0), float(self.high or 0.0)
            return d.FloatDistribution(low, high, log=self.log, step=self.step)
        if self.kind == "int":
            low, high = int(self.low or 0), int(self.high or 0)
            return d.IntDistribution(low, high, log=self.log, step=int(self.step or 1))
        return d.CategoricalDistribution(self.choices)

    def describe(self) -> str:
        """Return a short text form, logged as a param of the tuning run."""
        if self.kind == "categorical":
            return f"choice{list(self.choices)!r}"
        scale = "log" if self.log else "linear"
        step = f", step {self.step:g}" if self.step else ""
        return f"{self.kind}[{self.low:g}, {self.high:g}] {scale}{step}"


def _bounds(kind: str, low: Any, high: Any, log: bool, step: Any) -> None:
    numbers = (int, float)
    if (
        isinstance(low, bool)
        or isinstance(high, bool)
        or not isinstance(low, numbers)
        or not isinstance(high, numbers)
        or not math.isfinite(low)
        or not math.isfinite(high)
    ):
        raise InvalidArgumentError(
            f"keel.tune.{kind} needs finite numbers low < high, got low={low!r}, high={high!r}."
        )
    if low >= high:
        raise InvalidArgumentError(
            f"keel.tune.{kind}: low must be below high, got low={low!r}, high={high!r}."
        )
    if log and low <= 0:
        raise InvalidArgumentError(
            f"keel.tune.{kind} on a log scale needs low > 0, got low={low!r}. Use a positive "
            "lower bound or a linear scale."
        )
    if step is not None and (isinstance(step, bool) or not isinstance(step, numbers) or step <= 0):
        raise InvalidArgumentError(f"keel.tune.{kind}: step must be positive, got {step!r}.")
    if step is not None and log:
        raise InvalidArgumentError(f"keel.tune.{kind}: step and log cannot be combined.")


@dataclass(frozen=True)
class TrialResult:
    """One finished trial.

    Attributes:
        number: Its number in the study (0 first).
        params: The parameters it ran with.
        value: The objective's value (``None`` unless it completed).
        state: ``COMPLETE``, ``PRUNED`` or ``FAIL``.
        run_id: Its tracked run.
        error: Why it failed.
        intermediate: What it reported with ``trial.report(value, step)``.
        duration_s: How long it ran.
    """

    number: int
    params: dict[str, Any]
    value: float | None
    state: str
    run_id: str | None
    error: str | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    duration_s: float = 0.0


@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`tune`.

    Attributes:
        best_params: Parameters of the best trial.
        best_value: Its objective value.
        best_trial: Its number.
        best_run_id: Its tracked run.
        run_id: The parent tuning run.
        direction: ``minimize`` or ``maximize``.
        trials: Every trial, by number.
        study: The Optuna study (in memory).
    """

    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    best_run_id: str | None
    run_id: str
    direction: str
    trials: list[TrialResult]
    study: Any = field(default=None, repr=False)

    @property
    def params(self) -> dict[str, Any]:
        """Alias of :attr:`best_params`."""
        return self.best_params

    @property
    def value(self) -> float:
        """Alias of :attr:`best_value`."""
        return self.best_value

    def count(self, state: str) -> int:
        """How many trials ended in ``state`` (``COMPLETE``, ``PRUNED``, ``FAIL``)."""
        return sum(1 for t in self.trials if t.state == state)


class Trial:
    """What an objective that takes a ``trial`` argument gets: reports and pruning.

    Attributes:
        number: The trial's number.
        params: Its parameters.
        run_id: Its tracked run.
    """

    def __init__(self, number: int, params: dict[str, Any], run_id: str, optuna_trial: Any) -> None:
        self.number = number
        self.params = params
        self.run_id = run_id
        self._trial = optuna_trial
        self.intermediate: dict[int, float] = {}

    def report(self, value: float, step: int) -> None:
        """Report an intermediate objective value (logged as metric ``objective`` at ``step``)."""
        from keel.tracking import get_client

        value = float(value)
        step = int(step)
        self.intermediate[step] = value
        if self._trial is not None:
            self._trial.report(value, step)
        get_client().log_metric(self.run_id, "objective", value, step=step)

    def should_prune(self) -> bool:
        """Whether the pruner judges this trial unpromising, given the reports so far."""
        return bool(self._trial is not None and self._trial.should_prune())

    def prune(self) -> None:
        """Stop the trial as pruned."""
        raise Pruned(f"trial {self.number} pruned")


@dataclass
class TrialTask:
    """One trial, ready to ship to an executor."""

    number: int
    params: dict[str, Any]
    objective: Any
    metric: str | None
    direction: str
    distributions: dict[str, Any]
    pruner: Any
    finished: list[Any]
    parent: RunInfo
    context: Any
    isolated: bool
    wants_trial: bool
    name: str


def _value_of(result: Any, metric: str | None, name: str) -> float:
    if metric is not None and isinstance(result, Mapping):
        if metric not in result:
            raise InvalidArgumentError(
                f"The objective {name!r} returned no {metric!r}.{_near(metric, map(str, result))}"
                f" It returned the keys {sorted(map(str, result))!r}."
            )
        result = result[metric]
    if (
        isinstance(result, bool)
        or not isinstance(result, (int, float))
        and not (hasattr(result, "item") and getattr(result, "ndim", 1) == 0)
    ):
        raise InvalidArgumentError(
            f"The objective {name!r} returned {result!r} ({type(result).__name__}); it must "
            "return a number" + (f" or a dict with {metric!r}" if metric else "") + "."
        )
    value = float(result)
    if math.isnan(value):
        raise InvalidArgumentError(f"The objective {name!r} returned NaN.")
    return value


def run_trial_task(task: TrialTask) -> dict[str, Any]:
    """Run one trial where the executor put it; return its outcome as a plain dict."""
    from keel.pipelines._tracking import activated, flush_tracking
    from keel.pipelines._worker import _function, ensure_context
    from keel.store import RunStatus
    from keel.tracking import get_client

    if task.isolated:
        ensure_context(task.context)
    client = get_client()
    info = client.create_run(
        task.parent.experiment_id,
        f"trial-{task.number}",
        {"keel.tune": task.name, "keel.trial": task.number},
        task.parent.id,
    )
    started = time.perf_counter()
    outcome: dict[str, Any] = {"number": task.number, "run_id": info.id, "intermediate": {}}
    status = RunStatus.FAILED
    try:
        client.log_params(info.id, task.params)
        objective = _function(task.objective)
        with activated(info):
            from keel.pipelines._pipeline import Pipeline

            if isinstance(objective, Pipeline):
                run = objective.run(task.params, executor="inline")
                run.raise_for_status()
                result = run.outputs
            else:
                kwargs = dict(task.params)
                handle = None
                if task.wants_trial:
                    handle = Trial(task.number, task.params, info.id, _local_trial(task))
                    kwargs["trial"] = handle
                try:
                    result = objective(**kwargs)
                finally:
                    if handle is not None:
                        outcome["intermediate"] = dict(handle.intermediate)
            value = _value_of(result, task.metric, task.name)
        client.log_metric(info.id, task.metric or "objective_value", value)
        client.set_tags(info.id, {"keel.trial_state": "COMPLETE"})
        outcome.update(state="COMPLETE", value=value)
        status = RunStatus.FINISHED
    except Pruned:
        client.set_tags(info.id, {"keel.trial_state": "PRUNED"})
        outcome.update(state="PRUNED", value=None)
        status = RunStatus.FINISHED
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        if type(exc).__name__ == "TrialPruned":  # optuna.TrialPruned raised by the objective
            client.set_tags(info.id, {"keel.trial_state": "PRUNED"})
            outcome.update(state="PRUNED", value=None)
            status = RunStatus.FINISHED
        else:
            client.set_tags(info.id, {"keel.trial_state": "FAIL"})
            outcome.update(state="FAIL", value=None, error=f"{type(exc).__name__}: {exc}")
    finally:
        outcome["duration_s"] = time.perf_counter() - started
        flush_tracking()
        client.end_run(info.id, status)
    return outcome


def _local_trial(task: TrialTask) -> Any:
    """An Optuna trial with the task's parameters, in a study holding the finished trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=task.direction, pruner=task.pruner)  # type: ignore[arg-type]
    if task.finished:
        study.add_trials(task.finished)
    study.enqueue_trial(task.params, skip_if_exists=False)
    return study.ask(task.distributions)


def uniform(low: float, high: float, *, step: float | None = None) -> Distribution:
    """A float between ``low`` and ``high`` on a linear scale."""
    _bounds("uniform", low, high, False, step)
    return Distribution("float", float(low), float(high), False, step)


def loguniform(low: float, high: float) -> Distribution:
    """A float between ``low`` and ``high`` on a log scale (``low`` > 0)."""
    _bounds("loguniform", low, high, True, None)
    return Distribution("float", float(low), float(high), True)


def float_range(
    low: float, high: float, *, log: bool = False, step: float | None = None
) -> Distribution:
    """A float between ``low`` and ``high`` (``keel.tune.float``)."""
    _bounds("float", low, high, log, step)
    return Distribution("float", float(low), float(high), log, step)


def int_range(low: int, high: int, *, log: bool = False, step: int = 1) -> Distribution:
    """An integer from ``low`` to ``high`` inclusive (``keel.tune.int``)."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high, step)):
        raise InvalidArgumentError(
            f"keel.tune.int needs integers, got low={low!r}, high={high!r}, step={step!r}."
        )
    _bounds("int", low, high, log, None if step == 1 else step)
    return Distribution("int", low, high, log, step)


def choice(options: list[Any] | tuple[Any, ...]) -> Distribution:
    """One of ``options`` (numbers, strings, booleans or None)."""
    if not isinstance(options, (list, tuple)) or not options:
        raise InvalidArgumentError(
            f"keel.tune.choice needs a non-empty list of options, got {options!r}."
        )
    for option in options:
        if option is not None and not isinstance(option, (str, int, float, bool)):
            raise InvalidArgumentError(
                f"keel.tune.choice options must be numbers, strings, booleans or None; "
                f"got {option!r}."
            )
    return Distribution("categorical", choices=tuple(options))


class _TuneAPI:
    """``keel.tune(...)`` and its search-space builders (``keel.tune.loguniform`` ...)."""

    Pruned = Pruned
    Trial = Trial
    uniform = staticmethod(uniform)
    loguniform = staticmethod(loguniform)
    float = staticmethod(float_range)
    int = staticmethod(int_range)
    choice = staticmethod(choice)

    def __call__(
        self,
        objective: Callable[..., Any],
        space: Mapping[str, Any],
        n_trials: builtins.int = 20,
        *,
        direction: str = "minimize",
        metric: str | None = None,
        executor: str | Executor = "inline",
        max_workers: builtins.int | None = None,
        sampler: Any = None,
        pruner: Any = None,
        seed: builtins.int | None = None,
        timeout: builtins.float | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
    ) -> TuneResult:
        """Search ``space`` for the parameters that optimize ``objective``.

        Args:
            objective: A function taking the parameters by name (and ``trial`` if it wants to
                report and prune) and returning a number, or a dict holding ``metric``; or a
                :class:`~keel.pipelines.Pipeline` whose output is that.
            space: Parameter name -> :class:`Distribution` (fixed values are passed as they
                are).
            n_trials: How many trials to run.
            direction: ``"minimize"`` or ``"maximize"``.
            metric: The key of the objective's dict result to optimize.
            executor: ``"inline"``, ``"process"``, ``"ray"`` or an executor; trials run in
                parallel up to its capacity.
            max_workers: Parallel trials for ``process`` and ``ray``.
            sampler: An Optuna sampler (TPE, seeded with ``seed``, by default).
            pruner: An Optuna pruner (``MedianPruner`` by default).
            seed: Seed of the default sampler.
            timeout: Stop starting trials after this many seconds.
            experiment: The experiment of the tuning run (the current one by default).
            run_name: The tuning run's name (``tune-<objective>`` by default).

        Returns:
            The best parameters and value, and every trial.

        Raises:
            InvalidArgumentError: The space, the objective or an option is invalid.
            InvalidStateError: No trial completed (the message shows the first error).
        """
        try:
            import optuna
        except ImportError as exc:
            raise MissingDependencyError.for_extra("optuna", "tune", "keel.tune") from exc
        from keel.pipelines._pipeline import Pipeline

        name = getattr(objective, "name", None) if isinstance(objective, Pipeline) else None
        name = name or getattr(objective, "__name__", None) or "objective"
        distributions, fixed = self._check(objective, space, n_trials, direction)
        return _Study(
            optuna=optuna,
            objective=objective,
            name=name,
            distributions=distributions,
            fixed=fixed,
            n_trials=n_trials,
            direction=direction,
            metric=metric,
            executor=executor,
            max_workers=max_workers,
            sampler=sampler or optuna.samplers.TPESampler(seed=seed),
            pruner=pruner if pruner is not None else optuna.pruners.MedianPruner(),
            timeout=timeout,
            experiment=experiment,
            run_name=run_name or f"tune-{name}",
        ).run()

    @staticmethod
    def _check(
        objective: Any, space: Mapping[str, Any], n_trials: Any, direction: Any
    ) -> tuple[dict[str, Distribution], dict[str, Any]]:
        from keel.pipelines._pipeline import Pipeline

        if not callable(objective):
            raise InvalidArgumentError(
                f"keel.tune needs a function or a pipeline to optimize, got {objective!r}."
            )
        if not isinstance(space, Mapping) or not space:
            raise InvalidArgumentError(
                f"keel.tune needs a search space: a dict of parameter names to ranges such as "
                f"keel.tune.loguniform(1e-4, 1); got {space!r}."
            )
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            raise InvalidArgumentError(f"n_trials must be a positive integer, got {n_trials!r}.")
        if direction not in ("minimize", "maximize"):
            raise InvalidArgumentError(
                f"direction must be 'minimize' or 'maximize', got {direction!r}."
            )
        distributions = {k: v for k, v in space.items() if isinstance(v, Distribution)}
        fixed = {k: v for k, v in space.items() if not isinstance(v, Distribution)}
        if not distributions:
            raise InvalidArgumentError(
                "The search space has no range to search: give at least one parameter a range "
                "such as keel.tune.uniform(0, 1)."
            )
        if isinstance(objective, Pipeline):
            known = list(objective.signature.parameters)
        else:
            try:
                sig = inspect.signature(objective)
            except (TypeError, ValueError):
                return distributions, fixed
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
                return distributions, fixed
            known = list(sig.parameters)
        for key in space:
            if key not in known:
                raise InvalidArgumentError(
                    f"The search space names {key!r}, which the objective does not take."
                    f"{_near(key, known)} Its parameters: {', '.join(known)}.",
                    details={"param": key},
                )
        return distributions, fixed


@dataclass
class _Study:
    optuna: Any
    objective: Any
    name: str
    distributions: dict[str, Distribution]
    fixed: dict[str, Any]
    n_trials: int
    direction: Any
    metric: str | None
    executor: Any
    max_workers: int | None
    sampler: Any
    pruner: Any
    timeout: float | None
    experiment: str | None
    run_name: str

    def run(self) -> TuneResult:
        import keel.tracking as tracking
        from keel.pipelines._pipeline import Pipeline
        from keel.pipelines.executors import Executor, get_executor

        optuna = self.optuna
        previous = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        options = {} if self.max_workers is None else {"max_workers": self.max_workers}
        executor = get_executor(self.executor, **options)
        owns = not isinstance(self.executor, Executor)
        parent = tracking.start_run(
            run_name=self.run_name, tags={"keel.tune": self.name}, experiment=self.experiment
        )
        client = tracking.get_client()
        results: list[TrialResult] = []
        status = "FAILED"
        try:
            client.log_params(
                parent.id,
                {
                    "n_trials": self.n_trials,
                    "direction": self.direction,
                    "executor": executor.name,
                    **{f"space.{k}": d.describe() for k, d in self.distributions.items()},
                    **{f"fixed.{k}": v for k, v in self.fixed.items()},
                },
            )
            study = optuna.create_study(
                direction=self.direction, sampler=self.sampler, pruner=self.pruner
            )
            optuna_dists = {k: d.to_optuna() for k, d in self.distributions.items()}
            wants_trial = False
            if not isinstance(self.objective, Pipeline):
                try:
                    wants_trial = "trial" in inspect.signature(self.objective).parameters
                except (TypeError, ValueError):
                    wants_trial = False
            payload: Any = self.objective
            if executor.isolated:
                import cloudpickle

                payload = cloudpickle.dumps(self.objective)
            context = _worker_context() if executor.isolated else None
            running: dict[int, Any] = {}
            started = time.monotonic()
            asked = 0
            while asked < self.n_trials or running:
                out_of_time = self.timeout is not None and (
                    time.monotonic() - started > self.timeout
                )
                while (
                    asked < self.n_trials and len(running) < executor.capacity and not (out_of_time)
                ):
                    trial = study.ask(optuna_dists)
                    params = {**trial.params, **self.fixed}
                    finished = [
                        t for t in study.get_trials(deepcopy=False) if t.state.is_finished()
                    ]
                    task = TrialTask(
                        number=trial.number,
                        params=params,
                        objective=payload,
                        metric=self.metric,
                        direction=self.direction,
                        distributions=optuna_dists,
                        pruner=self.pruner,
                        finished=finished if wants_trial else [],
                        parent=parent.info,
                        context=context,
                        isolated=executor.isolated,
                        wants_trial=wants_trial,
                        name=self.name,
                    )
                    running[executor.submit(run_trial_task, task)] = (trial, params)
                    asked += 1
                if out_of_time and not running:
                    break
                for result in executor.wait(1.0 if running else 0):
                    trial, params = running.pop(result.task_id)
                    results.append(self._tell(study, trial, params, result))
            status = "FINISHED"
        finally:
            if owns:
                executor.shutdown()
            optuna.logging.set_verbosity(previous)
            if status != "FINISHED":
                parent.end("FAILED")
        results.sort(key=lambda t: t.number)
        complete = [t for t in results if t.state == "COMPLETE"]
        if not complete:
            parent.end("FAILED")
            first = next((t.error for t in results if t.error), "every trial was pruned")
            raise InvalidStateError(
                f"None of the {len(results)} trials of {self.name!r} completed; the first "
                f"error: {first}. Fix the objective and tune again.",
                details={"run_id": parent.id},
            )
        best = study.best_trial
        best_result = next(t for t in results if t.number == best.number)
        label = self.metric or "value"
        client.log_params(parent.id, {f"best.{k}": v for k, v in best_result.params.items()})
        client.log_metrics(
            parent.id,
            {
                f"best_{label}": float(best.value),
                "trials_complete": len(complete),
                "trials_pruned": sum(1 for t in results if t.state == "PRUNED"),
                "trials_failed": sum(1 for t in results if t.state == "FAIL"),
            },
        )
        client.set_tags(
            parent.id,
            {"keel.best_trial": best.number, "keel.best_run_id": best_result.run_id or ""},
        )
        if best_result.run_id:
            client.store.add_lineage_edge(
                ("run", best_result.run_id), ("run", parent.id), "best_trial_of", {}
            )
        parent.end("FINISHED")
        return TuneResult(
            best_params=dict(best_result.params),
            best_value=float(best.value),
            best_trial=best.number,
            best_run_id=best_result.run_id,
            run_id=parent.id,
            direction=self.direction,
            trials=results,
            study=study,
        )

    def _tell(self, study: Any, trial: Any, params: dict[str, Any], result: Any) -> TrialResult:
        optuna = self.optuna
        if not result.ok:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return TrialResult(trial.number, params, None, "FAIL", None, error=result.error)
        out = result.value
        for step, value in sorted(out.get("intermediate", {}).items()):
            trial.report(value, step)
        state = out["state"]
        if state == "COMPLETE":
            study.tell(trial, out["value"])
        elif state == "PRUNED":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return TrialResult(
            number=trial.number,
            params=params,
            value=out.get("value"),
            state=state,
            run_id=out.get("run_id"),
            error=out.get("error"),
            intermediate=dict(out.get("intermediate", {})),
            duration_s=float(out.get("duration_s", 0.0)),
        )


def _worker_context() -> Any:
    from keel.pipelines._worker import WorkerContext
    from keel.tracking import get_client

    return WorkerContext.of(get_client().settings)


#: ``keel.tune(objective, space, n_trials, ...)``; also ``keel.tune.loguniform(...)`` etc.
tune = _TuneAPI()
