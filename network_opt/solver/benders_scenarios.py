r"""Scenario-wise Benders decomposition (``solve --decomposition benders`` on a stochastic design
without CVaR): one block per scenario, built from the scenario's own model, so that memory grows
by one block LP per scenario and never by an extensive form; the blocks solved in this process or
in worker processes (:class:`BlockPool`). The master, the cuts and the loop are those of
:mod:`network_opt.solver.benders` (:func:`~network_opt.solver.benders.benders_loop`); bounds and
costs are in the objective's currency. ``docs/decomposition.md`` describes the method.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import multiprocessing.connection as mp_connection
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]

from network_opt.common import interrupts
from network_opt.solver.benders import (
    BendersOptions,
    BendersRecord,
    Block,
    BlockLP,
    Blocks,
    Evaluation,
    Master,
    benders_loop,
    new_highs,
    rows_by_stage,
)
from network_opt.solver.handoff import MatrixModel, TriviallyInfeasible, quiet_highs
from network_opt.solver.highs import SolveOutcome, relative_gap
from network_opt.solver.options import SolveOptions
from network_opt.solver.status import SolveStatus, Termination
from network_opt.solver.workers import WorkerFailed, answer, end_workers


@dataclass
class ScenarioPiece:
    """One scenario compiled for the scenario-wise path (:func:`scenario_piece`), over its
    first-stage variables ``names`` (Pyomo names, the same in every scenario): their bounds and
    integrality, their cost weighted by the scenario's probability (currency), the scenario's rows
    on first-stage columns only (over ``names``), its probability-weighted objective constant, its
    block LP (``link``: linking columns as indices into ``names``; None once sent to the parent
    process) and the values of a start plan over ``names`` (None if none)."""

    names: list[str]
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    cost: np.ndarray
    offset: float
    rows: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    block: BlockLP | None
    block_rows: int
    block_columns: int
    block_bytes: int
    link: np.ndarray
    start: np.ndarray | None = None

    def head(self) -> ScenarioPiece:
        """This piece without its block LP (what a worker process sends back)."""
        return dataclasses.replace(self, block=None)


def scenario_piece(mm: MatrixModel, first_cols: np.ndarray, names: list[str], lower: np.ndarray,
                   upper: np.ndarray, integer: np.ndarray, probability: float,
                   start: np.ndarray | None = None) -> ScenarioPiece:
    """Split one scenario's compiled model ``mm`` (objective: the scenario's cost, currency) into its
    master rows and its block LP. ``first_cols[i]``: the column of first-stage variable
    ``names[i]`` in ``mm`` (-1 when the variable is in no row and no cost term, or fixed);
    ``lower``, ``upper``, ``integer``: its bounds and integrality as the variable states them (used
    where it is no column). Costs and the constant are multiplied by ``probability``. Raises
    ValueError if a second-stage column is integer."""
    ncol = mm.shape[1]
    first_cols = np.asarray(first_cols, dtype=np.int64)
    ok = first_cols >= 0
    mask = np.zeros(ncol, dtype=bool)
    mask[first_cols[ok]] = True
    a, pattern, sub_rows, master_rows = rows_by_stage(mm, mask)
    local = np.full(ncol, -1, dtype=np.int64)
    local[first_cols[ok]] = np.flatnonzero(ok)
    am = a[master_rows].tocoo()
    rows = sp.csr_matrix((am.data, (am.row, local[am.col])), shape=(len(master_rows), len(names)))
    second = np.flatnonzero(~mask)
    used = np.asarray(pattern[sub_rows].sum(axis=0)).ravel() > 0
    linking = np.flatnonzero(used & mask)
    cols = np.concatenate([second, linking])
    p = float(probability)
    block = BlockLP(a=a[sub_rows][:, cols], cost=p * np.concatenate([mm.cost[second], np.zeros(len(linking))]),
                    lower=mm.col_lower[cols], upper=mm.col_upper[cols], row_lower=mm.row_lower[sub_rows],
                    row_upper=mm.row_upper[sub_rows], ns=len(second), link=local[linking])
    lo, up = np.array(lower, dtype=float), np.array(upper, dtype=float)
    lo[ok], up[ok] = mm.col_lower[first_cols[ok]], mm.col_upper[first_cols[ok]]
    ints = np.array(integer, dtype=bool)
    ints[ok] = mm.integer[first_cols[ok]]
    cost = np.zeros(len(names))
    cost[ok] = p * mm.cost[first_cols[ok]]
    return ScenarioPiece(names=list(names), lower=lo, upper=up, integer=ints, cost=cost, offset=p * mm.offset,
                         rows=rows, row_lower=mm.row_lower[master_rows], row_upper=mm.row_upper[master_rows],
                         block=block, block_rows=len(sub_rows), block_columns=len(second),
                         block_bytes=block.nbytes, link=block.link,
                         start=None if start is None else np.asarray(start, dtype=float))


def assemble_master(pieces: list[ScenarioPiece], labels: list[str]) -> tuple[Master, list[np.ndarray]]:
    """The master of the scenario-wise path (one copy of the first-stage columns, in the first
    scenario's order, with their expected cost; the first scenario's master rows and any other
    scenario's that differ) and each block's linking positions in it. Raises ValueError naming the
    scenario and the columns when the scenarios' first-stage columns differ in name, bounds or
    integrality."""
    ref = pieces[0]
    index = {name: i for i, name in enumerate(ref.names)}
    nf = len(ref.names)
    cost = np.zeros(nf)
    offset = 0.0
    rows: list[sp.csr_matrix] = []
    row_lower: list[np.ndarray] = []
    row_upper: list[np.ndarray] = []
    links: list[np.ndarray] = []
    for piece, label in zip(pieces, labels, strict=True):
        if piece.names != ref.names:
            extra = sorted(set(piece.names) - set(index))
            missing = sorted(set(ref.names) - set(piece.names))
            if extra or missing or len(piece.names) != nf:
                raise ValueError(
                    f"Benders: scenario {label!r} has other first-stage columns than scenario {labels[0]!r} "
                    f"({len(piece.names)} against {nf}; not in {labels[0]!r}: {', '.join(extra[:5]) or 'none'}; "
                    f"missing: {', '.join(missing[:5]) or 'none'}): every scenario must decide the same things")
        perm = np.fromiter((index[n] for n in piece.names), dtype=np.int64, count=nf)
        for what, mine, theirs in (("lower bound", piece.lower, ref.lower), ("upper bound", piece.upper, ref.upper),
                                   ("integrality", piece.integer, ref.integer)):
            bad = np.flatnonzero(mine != theirs[perm])
            if len(bad):
                raise ValueError(f"Benders: the first-stage column {piece.names[bad[0]]} has another {what} in "
                                 f"scenario {label!r} ({mine[bad[0]]}) than in {labels[0]!r} "
                                 f"({theirs[perm[bad[0]]]}): every scenario must decide the same things")
        np.add.at(cost, perm, piece.cost)
        offset += piece.offset
        links.append(perm[piece.link])
        r = piece.rows.tocoo()
        mine_rows = sp.csr_matrix((r.data, (r.row, perm[r.col])), shape=(r.shape[0], nf))
        mine_rows.sort_indices()
        same = (rows and mine_rows.shape == rows[0].shape and np.array_equal(mine_rows.indptr, rows[0].indptr)
                and np.array_equal(mine_rows.indices, rows[0].indices)
                and np.array_equal(mine_rows.data, rows[0].data)
                and np.array_equal(piece.row_lower, row_lower[0]) and np.array_equal(piece.row_upper, row_upper[0]))
        if not same:
            rows.append(mine_rows)
            row_lower.append(piece.row_lower)
            row_upper.append(piece.row_upper)
    master = Master(cost=cost, lower=ref.lower, upper=ref.upper, integer=ref.integer,
                    a=sp.vstack(rows, format="csr"), row_lower=np.concatenate(row_lower),
                    row_upper=np.concatenate(row_upper), offset=offset, nf=nf)
    return master, links


def _plain_run(h: highspy.Highs) -> bool:
    h.run()
    return True


def _worker(conn: Any, build: Callable[[Any], ScenarioPiece], tasks: list[Any], threads: int | None,
            persistent: bool) -> None:
    """A worker process of :class:`BlockPool`: builds its scenarios' blocks once, then answers
    "relaxed" and "evaluate" (first-stage values in, block answers out) until "close". Stop
    requests are the parent's: it kills this process."""
    interrupts.worker_ignores_sigint()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        shared = None if persistent else new_highs(None, threads)
        blocks: list[Block] = []
        heads = []
        for task in tasks:
            try:
                piece = build(task)
            except TriviallyInfeasible as exc:
                conn.send(("trivially_infeasible", str(exc)))
                return
            assert piece.block is not None
            blocks.append(Block(piece.block, threads, shared))
            heads.append(piece.head())
            del piece
        conn.send(("ok", heads))
        links: list[np.ndarray] = []
        while True:
            msg = conn.recv()
            if msg[0] == "close":
                return
            if msg[0] == "link":
                links = msg[1]
                conn.send(("ok", None))
            elif msg[0] == "relaxed":
                conn.send(("ok", [blk.relaxed(_plain_run) for blk in blocks]))
            elif msg[0] == "evaluate":
                xf, until = msg[1], msg[2]
                out: list[Evaluation] = []
                for blk, pos in zip(blocks, links, strict=True):
                    limit = None if until is None else max(0.0, until - time.time())
                    out.append(blk.evaluate(xf[pos], limit, _plain_run, values=False))
                    if out[-1][0] in ("stopped", "failed"):
                        break
                conn.send(("ok", out))
    except BaseException:  # reported to the parent, which raises it there
        with contextlib.suppress(Exception):
            conn.send(("error", traceback.format_exc()))


class BlockPool:
    """The blocks of the scenario-wise path in ``workers`` processes (spawned; scenario ``i`` is
    built and kept by worker ``i mod workers`` for the whole solve). Each iteration sends the
    first-stage values out and gets the blocks' values and reduced costs back. A worker's
    exception is raised here as a RuntimeError with its traceback; a worker that dies is named; a
    stop request (SIGINT/SIGTERM) kills the workers within a poll interval."""

    POLL_S = 0.1

    def __init__(self, build: Callable[[Any], ScenarioPiece], tasks: list[Any], workers: int, threads: int | None,
                 persistent: bool):
        ctx = multiprocessing.get_context("spawn")
        n = len(tasks)
        workers = max(1, min(int(workers), n))
        self.assignment = [list(range(w, n, workers)) for w in range(workers)]
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        self.workers = workers
        self.heads: list[ScenarioPiece | None] = [None] * n
        self.link: list[np.ndarray] = []
        try:
            with interrupts.starting_workers():
                for ids in self.assignment:
                    parent, child = ctx.Pipe()
                    p = ctx.Process(target=_worker, args=(child, build, [tasks[i] for i in ids], threads, persistent),
                                    daemon=True, name="network-opt-benders")
                    p.start()
                    child.close()
                    self.procs.append(p)
                    self.conns.append(parent)
            got = self._gather()
            if got is None:
                return
            for ids, heads in zip(self.assignment, got, strict=True):
                for i, head in zip(ids, heads, strict=True):
                    self.heads[i] = head
        except BaseException:
            self.close()
            raise

    @property
    def built(self) -> bool:
        return all(h is not None for h in self.heads)

    def _gather(self) -> list[Any] | None:
        """Every worker's answer to the last message (None: a stop request came first; the workers
        are killed)."""
        results: list[Any] = [None] * len(self.conns)
        pending = set(range(len(self.conns)))
        while pending:
            if interrupts.requested() is not None:
                self.close()
                return None
            ready = mp_connection.wait([self.conns[w] for w in pending], timeout=self.POLL_S)
            for w in sorted(pending):
                try:
                    got = answer(self.procs[w], self.conns[w], self.conns[w] in ready, f"Benders worker {w}")
                except WorkerFailed:
                    self.close()
                    raise
                if got is None:
                    continue
                kind, payload = got
                if kind == "trivially_infeasible":
                    self.close()
                    raise TriviallyInfeasible(payload)
                results[w] = payload
                pending.discard(w)
        return results

    def _send_all(self, messages: list[Any]) -> list[Any] | None:
        for conn, msg in zip(self.conns, messages, strict=True):
            conn.send(msg)
        return self._gather()

    def set_links(self, links: list[np.ndarray]) -> None:
        self.link = links
        self._send_all([("link", [links[i] for i in ids]) for ids in self.assignment])

    def relaxed(self) -> list[tuple[str, float]] | None:
        got = self._send_all([("relaxed",)] * len(self.conns))
        if got is None:
            return None
        out: list[tuple[str, float]] = [("stopped", math.nan)] * len(self.link)
        for ids, res in zip(self.assignment, got, strict=True):
            for i, r in zip(ids, res, strict=True):
                out[i] = r
        return out

    def evaluate(self, xf: np.ndarray, limit: Callable[[], float | None]) -> list[Evaluation] | None:
        left = limit()
        until = None if left is None else time.time() + left
        got = self._send_all([("evaluate", xf, until)] * len(self.conns))
        if got is None:
            return None
        out: list[Evaluation] = [("stopped", math.nan, np.zeros(0), None, "")] * len(self.link)
        for ids, res in zip(self.assignment, got, strict=True):
            for i, r in zip(ids, res, strict=False):
                out[i] = r
        return out

    def peak_mb(self) -> list[float]:
        """Peak resident memory of each worker process so far (MB; Linux's VmHWM; empty elsewhere)."""
        out = []
        for p in self.procs:
            try:
                text = Path(f"/proc/{p.pid}/status").read_text()
                out.append(int(text.split("VmHWM:")[1].split()[0]) / 1024)
            except (OSError, IndexError, ValueError):
                return []
        return out

    def close(self) -> None:
        """Ask the workers to end, then kill those still alive (a stop request, an error)."""
        end_workers(self.procs, self.conns)
        self.procs, self.conns = [], []


@dataclass
class ScenarioBenders:
    """The result of :func:`scenario_benders`: the outcome (objective = the best plan's expected cost,
    bound = the master's dual bound, currency), the first-stage names and the best plan's values
    over them (None without a plan), and the record."""

    outcome: SolveOutcome
    names: list[str]
    plan: np.ndarray | None
    record: BendersRecord


def scenario_benders(build: Callable[[Any], ScenarioPiece], tasks: list[Any], labels: list[str],
                     options: SolveOptions | None = None, settings: BendersOptions | None = None,
                     workers: int = 1, progress: Callable[[str], None] | None = None) -> ScenarioBenders:
    """Benders decomposition with one block per scenario, built from each scenario's own model:
    ``build(task)`` makes one :class:`ScenarioPiece` (its Pyomo model is dropped when it returns),
    so that memory grows by one block LP per scenario, never by an extensive form. ``workers`` > 1:
    the blocks are built and solved in that many processes (:class:`BlockPool`; ``build`` and the
    tasks must pickle); 1: in this process. The start plan of the first piece that has one is
    evaluated before the first master solve (an upper bound from the start). ``options.time_limit``
    counts from the end of the build (as a plain solve's from the hand-off to HiGHS); the outcome's
    ``solve_s`` includes the build (``record.build_s``). Raises ValueError when
    the scenarios' first-stage columns differ, RuntimeError when a worker fails,
    :class:`TriviallyInfeasible` for a constant row that cannot hold."""
    options = options or SolveOptions()
    settings = settings or BendersOptions()
    rec = BendersRecord()
    begin = time.perf_counter()
    with interrupts.handling(), interrupts.deferred():
        blocks: Any = None
        try:
            if workers <= 1:
                heads, lps = [], []
                for task in tasks:
                    if interrupts.requested() is not None:
                        break
                    piece = build(task)
                    assert piece.block is not None
                    lps.append(piece.block)
                    heads.append(piece.head())
                    del piece
                built = len(heads) == len(tasks)
                if built:
                    blocks = Blocks(lps, options.threads, settings.persistent, values=False)
            else:
                blocks = BlockPool(build, tasks, workers, options.threads, settings.persistent)
                built = blocks.built
                heads = [h for h in blocks.heads if h is not None]
            rec.build_s = time.perf_counter() - begin
            version = _version()
            if not built:
                out = SolveOutcome(status=SolveStatus.NO_SOLUTION, termination=Termination.INTERRUPTED, objective=None,
                                   bound=None, mip_gap=None, solver_name="benders + highs", solver_version=version,
                                   solve_s=time.perf_counter() - begin)
                return ScenarioBenders(out, [], None, rec)
            master, links = assemble_master(heads, labels)
            if isinstance(blocks, Blocks):
                blocks.link = links
            else:
                blocks.set_links(links)
            start = None
            with_start = [h for h in heads if h.start is not None]
            if with_start:  # its values in the master's (the first scenario's) order
                where = {n: i for i, n in enumerate(with_start[0].names)}
                assert with_start[0].start is not None
                start = with_start[0].start[[where[n] for n in heads[0].names]]
            rec.blocks, rec.master_rows, rec.first_stage_columns = len(heads), master.a.shape[0], master.nf
            rec.master_columns = master.nf
            rec.block_rows = [h.block_rows for h in heads]
            rec.block_columns = [h.block_columns for h in heads]
            rec.block_arrays_mb = sum(h.block_bytes for h in heads) / 1e6
            rec.workers = blocks.workers
            held = ("one HiGHS object per block" if settings.persistent
                    else "one HiGHS object per process, re-loaded with the block and its last basis")
            rec.notes.append(f"scenario-wise blocks: one per scenario, built from its own model, in "
                             f"{blocks.workers} process(es); {held}")
            # the time limit counts from here, as a plain solve's counts from the hand-off to HiGHS
            res = benders_loop(master, blocks, options, settings, rec, progress, start)
            if isinstance(blocks, BlockPool):
                rec.worker_peak_mb = blocks.peak_mb()
        finally:
            if blocks is not None:
                blocks.close()
    bound = res.lower if math.isfinite(res.lower) else None
    objective = res.upper if res.xm is not None else None
    out = SolveOutcome(status=res.status, termination=res.termination, objective=objective, bound=bound,
                       mip_gap=relative_gap(objective, bound), solver_name="benders + highs", solver_version=version,
                       solve_s=time.perf_counter() - begin)
    return ScenarioBenders(out, heads[0].names, res.xm, rec)


def _version() -> str:
    h = quiet_highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


__all__ = ["BlockPool", "ScenarioBenders", "ScenarioPiece", "assemble_master", "scenario_benders", "scenario_piece"]
