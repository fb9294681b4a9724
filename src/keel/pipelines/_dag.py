"""Building the DAG: step calls inside a pipeline function return handles, not values.

While a pipeline function runs under a :class:`Tracer`, every step call becomes a
:class:`Node` whose arguments may hold :class:`OutputHandle` objects (directly or inside lists,
tuples and dicts). The DAG is checked before anything runs: arguments must fit the step's
signature and annotations, an output must fit the parameter it feeds, and ordering edges
added with :meth:`OutputHandle.after` must not close a cycle.
"""

from __future__ import annotations

import contextvars
import inspect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.pipelines._errors import PipelineDefinitionError
from keel.pipelines._types import compatible, describe, value_matches

if TYPE_CHECKING:
    from keel.pipelines._step import Step

__all__ = ["Dag", "Node", "OutputHandle", "Tracer", "current_tracer", "iter_handles"]

_current: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar(
    "keel_pipeline_tracer", default=None
)


def current_tracer() -> Tracer | None:
    """Return the tracer of the pipeline being built in this context, or ``None``."""
    return _current.get()


class OutputHandle:
    """A placeholder for one output of a step, valid while its pipeline is being built.

    Pass it to other steps, or return it from the pipeline function. It has no value yet, so
    using it as one (``if df:``, ``df.shape``) raises an error explaining that.
    """

    __slots__ = ("_tracer", "annotation", "index", "node")

    def __init__(self, tracer: Tracer, node: str, index: int, annotation: Any) -> None:
        self._tracer = tracer
        self.node = node
        self.index = index
        self.annotation = annotation

    def after(self, *others: Any) -> OutputHandle:
        """Run this output's step only after the steps of ``others`` (handles) have finished.

        Returns:
            This handle, so ``load(v).after(check)`` reads naturally.
        """
        self._tracer.add_order(self.node, others)
        return self

    def _misuse(self, what: str) -> PipelineDefinitionError:
        return PipelineDefinitionError(
            f"The pipeline used the output of step {self.node!r} {what} while building its DAG, "
            "but outputs have no value until the pipeline runs. Pass the output to another "
            "step and do the work there.",
            details={"step": self.node},
        )

    def __bool__(self) -> bool:
        raise self._misuse("as a condition")

    def __iter__(self) -> Iterator[Any]:
        raise self._misuse("as an iterable")

    def __len__(self) -> int:
        raise self._misuse("with len()")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._misuse(f"as a value (attribute {name!r})")

    def __getitem__(self, key: Any) -> Any:
        raise self._misuse(f"as a value (item {key!r})")

    def __repr__(self) -> str:
        suffix = f"[{self.index}]" if self._tracer.nodes[self.node].step.n_outputs > 1 else ""
        return f"<output of step {self.node!r}{suffix}>"


def iter_handles(value: Any) -> Iterator[OutputHandle]:
    """Yield every handle inside ``value`` (through lists, tuples, sets and dict values)."""
    if isinstance(value, OutputHandle):
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from iter_handles(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_handles(item)


@dataclass
class Node:
    """One step call in a pipeline.

    Attributes:
        name: Unique within the pipeline (``train``, then ``train_2`` for a second call).
        step: The step called.
        arguments: The bound arguments; values may hold handles.
        upstream: Names of the nodes whose outputs it reads.
        after: Names of nodes it waits for without reading their outputs.
        position: The order of the call.
    """

    name: str
    step: Step
    arguments: dict[str, Any]
    upstream: list[str]
    after: list[str] = field(default_factory=list)
    position: int = 0

    @property
    def depends_on(self) -> list[str]:
        """Every node this one waits for, data and ordering edges, without repeats."""
        return list(dict.fromkeys([*self.upstream, *self.after]))


@dataclass
class Dag:
    """The checked DAG of one pipeline run.

    Attributes:
        nodes: The nodes in call order.
        order: The node names in a topological order (call order where free).
        outputs: What the pipeline function returned (may hold handles).
    """

    nodes: dict[str, Node]
    order: list[str]
    outputs: Any

    def downstream(self, name: str) -> list[str]:
        """Return every node that depends on ``name``, directly or not, in DAG order."""
        children: dict[str, list[str]] = {n: [] for n in self.nodes}
        for node in self.nodes.values():
            for dep in node.depends_on:
                children[dep].append(node.name)
        found: set[str] = set()
        queue = deque(children[name])
        while queue:
            current = queue.popleft()
            if current not in found:
                found.add(current)
                queue.extend(children[current])
        return [n for n in self.order if n in found]

    def describe(self) -> list[dict[str, Any]]:
        """Return the DAG as JSON-ready rows, in DAG order (what ``keel pipeline show`` draws)."""
        return [
            {
                "name": name,
                "function": self.nodes[name].step.function_ref,
                "upstream": self.nodes[name].upstream,
                "after": self.nodes[name].after,
            }
            for name in self.order
        ]


class Tracer:
    """Collects step calls while a pipeline function builds its DAG.

    Args:
        pipeline: The pipeline's name, for messages.
    """

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.nodes: dict[str, Node] = {}
        self._token: contextvars.Token[Tracer | None] | None = None

    def __enter__(self) -> Tracer:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None

    def _unique(self, base: str) -> str:
        if base not in self.nodes:
            return base
        k = 2
        while f"{base}_{k}" in self.nodes:
            k += 1
        return f"{base}_{k}"

    def _own(self, handle: OutputHandle, where: str) -> OutputHandle:
        if handle._tracer is not self:
            raise PipelineDefinitionError(
                f"{where} received the output of step {handle.node!r} from another pipeline "
                "definition. Handles are valid only inside the pipeline function that made them.",
            )
        return handle

    def add_call(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Record a call of ``step`` and return its output handle(s)."""
        sig = step.signature
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise PipelineDefinitionError(
                f"Pipeline {self.pipeline!r} calls step {step.name!r} with arguments that do "
                f"not fit its signature {step.name}{sig}: {exc}. Fix the call in the pipeline "
                "function.",
                details={"step": step.name},
            ) from exc
        bound.apply_defaults()
        name = self._unique(step.name)
        upstream: list[str] = []
        for param, value in bound.arguments.items():
            for handle in iter_handles(value):
                self._own(handle, f"Step {name!r}")
                if handle.node not in upstream:
                    upstream.append(handle.node)
            self._check_argument(name, step, param, value)
        node = Node(
            name=name,
            step=step,
            arguments=dict(bound.arguments),
            upstream=upstream,
            position=len(self.nodes),
        )
        self.nodes[name] = node
        handles = tuple(OutputHandle(self, name, i, t) for i, t in enumerate(step.output_types))
        return handles[0] if step.n_outputs == 1 else handles

    def _check_argument(self, node: str, step: Step, param: str, value: Any) -> None:
        kind = step.signature.parameters[param].kind
        expected = step.param_types.get(param, inspect.Parameter.empty)
        if expected is inspect.Parameter.empty:
            return
        if kind is inspect.Parameter.VAR_POSITIONAL:
            items = list(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            items = list(value.values())
        else:
            items = [value]
        for item in items:
            if isinstance(item, OutputHandle):
                if not compatible(item.annotation, expected):
                    raise PipelineDefinitionError(
                        f"Step {node!r} parameter {param!r} expects {describe(expected)}, but "
                        f"it receives the output of step {item.node!r}, annotated "
                        f"{describe(item.annotation)}. Pass an output of the right type, or "
                        "correct the annotations.",
                        details={"step": node, "param": param, "from": item.node},
                    )
            elif not any(True for _ in iter_handles(item)) and not value_matches(item, expected):
                raise PipelineDefinitionError(
                    f"Step {node!r} parameter {param!r} expects {describe(expected)}, got "
                    f"{item!r} ({type(item).__name__}). Pass a {describe(expected)}.",
                    details={"step": node, "param": param},
                )

    def add_order(self, node: str, others: tuple[Any, ...]) -> None:
        """Make ``node`` wait for the steps of the handles in ``others``."""
        target = self.nodes[node]
        for other in others:
            handles = list(iter_handles(other))
            if not handles:
                raise PipelineDefinitionError(
                    f"Step {node!r}: .after() takes step outputs (handles), got {other!r}.",
                    details={"step": node},
                )
            for handle in handles:
                self._own(handle, f"Step {node!r}")
                if handle.node not in target.after and handle.node not in target.upstream:
                    target.after.append(handle.node)

    def build(self, outputs: Any) -> Dag:
        """Check the collected calls and return the DAG.

        Raises:
            PipelineDefinitionError: The calls form a cycle, or the pipeline returned a
                handle of another pipeline.
        """
        for handle in iter_handles(outputs):
            self._own(handle, f"Pipeline {self.pipeline!r}")
        return Dag(nodes=dict(self.nodes), order=self._topological_order(), outputs=outputs)

    def _topological_order(self) -> list[str]:
        indegree = dict.fromkeys(self.nodes, 0)
        children: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for dep in node.depends_on:
                indegree[node.name] += 1
                children[dep].append(node.name)
        ready = [n for n, d in indegree.items() if d == 0]
        order: list[str] = []
        while ready:
            ready.sort(key=lambda n: self.nodes[n].position)
            current = ready.pop(0)
            order.append(current)
            for child in children[current]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if len(order) < len(self.nodes):
            cycle = self._find_cycle({n for n in self.nodes if n not in order})
            raise PipelineDefinitionError(
                f"Pipeline {self.pipeline!r} has a cycle: {' -> '.join(repr(n) for n in cycle)}. "
                "A step cannot wait, directly or not, for itself; remove one of these "
                "dependencies (check the .after() calls).",
                details={"cycle": cycle},
            )
        return order

    def _find_cycle(self, candidates: set[str]) -> list[str]:
        # Walk dependency edges inside the nodes left over by Kahn's algorithm; every one of
        # them lies on or leads to a cycle, so the walk must revisit a node.
        start = min(candidates, key=lambda n: self.nodes[n].position)
        path: list[str] = []
        index: dict[str, int] = {}
        current = start
        while current not in index:
            index[current] = len(path)
            path.append(current)
            current = next(d for d in self.nodes[current].depends_on if d in candidates)
        cycle = path[index[current] :] + [current]
        cycle.reverse()  # show it in the direction data flows: producer -> consumer
        return cycle
