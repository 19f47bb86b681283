"""JSONL lines -> prepared mentions, in this process or in a second one.

About half of an import's time goes into turning lines into mentions (JSON,
validation, search documents, time strings), the other half into the database.
A big import hands the first half to a worker process so that both go at once
on two cores: a thread feeds the worker the raw input, the worker sends back
`Parsed` blocks, and the main process only writes to the database. With cores to
spare, a big file gets more workers (`WORKERS`), dealt blocks in turn and read
back in the same turn.

The worker is a plain `python -c` child speaking tagged, length-prefixed frames
on its stdin/stdout: unlike multiprocessing's spawn it never re-runs the
caller's `__main__`, so it is safe from scripts, the CLI and tests alike. While it starts
(a fraction of a second) the main process parses on its own; if it cannot start,
the import simply stays in one process. Small inputs never start it.

Line numbers, the BOM, CRLF and undecodable bytes are handled exactly as in one
process: both run `parse_block` on the same bytes.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import pickle
import queue
import stat
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import IO, Any, NamedTuple, TextIO

import orjson

from inboxtui.records import MentionIn, Prepared, RecordError, parse_record, prepare_record

# Start a worker for a regular file with at least this much left to read...
WORKER_MIN_BYTES = 4 << 20
# ... and for a stream (a pipe, stdin) once this many lines were parsed here.
WORKER_MIN_LINES = 20_000
# Parsing processes for a big file: one core is left to this process, which
# writes. Parsing a mention (JSON, checks, sentiment, search document) costs
# about as much CPU as storing it or more, so with spare cores a second and third
# worker keep the writer busy; on two cores a second worker only takes CPU from
# the writer (measured: no faster). A stream (stdin) gets one: it is known to be
# big only once it is under way.
WORKERS = max(1, min(3, (os.cpu_count() or 1) - 1))
_HELPER_WAIT = 5.0  # seconds a second worker may take to start once the first is ready
_HAND_BLOCKS = 4  # input blocks dealt ahead to each worker
_BLOCK_BYTES = 1 << 19  # read size; a pipe gives what it has, so streaming stays prompt
_TEXT_BLOCK_LINES = 512
_QUEUE_BLOCKS = 64  # parsed blocks (~1,100 mentions each) ready ahead of the database


class Parsed(NamedTuple):
    """A run of input lines, parsed."""

    lines: int  # non-blank lines
    numbers: list[int]  # the line number of each record
    records: list[Prepared]
    errors: list[tuple[int, str]]  # (line number, reason)
    parallel: bool = False  # parsed by the worker: the input is a big one


class WorkerError(RuntimeError):
    """The parsing process failed after taking over the input."""


# ---------------------------------------------------------------- parsing


def parse_line(line: str) -> MentionIn:
    """One JSONL line -> a validated, sanitised mention; raises `RecordError`."""
    return parse_record(_load_line(line), raw=line)


def _load_line(line: str) -> Any:
    """One JSONL line -> its JSON value; raises `RecordError`."""
    if not line.isascii() and not _valid_unicode(line):
        raise RecordError(None, "not valid UTF-8 text")
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _loads_strictly(line)


def _loads_strictly(line: str) -> Any:
    """The standard parser: accepts what orjson refuses (lone surrogates, NaN), and says where."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        stripped = line.rstrip()
        if exc.pos >= len(stripped) or exc.msg.startswith("Unterminated string"):
            raise RecordError(
                None, "truncated line: the JSON object ends early (incomplete write?)"
            ) from None
        raise RecordError(None, f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise RecordError(None, "invalid JSON: nested too deeply") from None


def _valid_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_lines(lines: Iterable[tuple[int, str]], dialect: str) -> Parsed:
    """(line number, line without its terminator) pairs -> records and errors."""
    count = 0
    numbers: list[int] = []
    records: list[Prepared] = []
    errors: list[tuple[int, str]] = []
    for number, line in lines:
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        count += 1
        try:  # = prepare(parse_line(line), ...), without building a MentionIn
            record = prepare_record(_load_line(line), line, dialect)
        except RecordError as exc:
            errors.append((number, str(exc)))
            continue
        numbers.append(number)
        records.append(record)
    return Parsed(count, numbers, records, errors)


def parse_block(first: int, data: bytes, dialect: str) -> Parsed:
    """Whole lines of UTF-8 input starting at line `first`; bad bytes make a bad line."""
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    if data.endswith(b"\n"):
        lines.pop()
    return parse_lines(
        ((number, line.removesuffix("\r")) for number, line in enumerate(lines, start=first)),
        dialect,
    )


def _blocks(binary: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, whole lines) as the input arrives."""
    read = getattr(binary, "read1", binary.read)
    number = 1
    rest = b""
    while chunk := read(_BLOCK_BYTES):
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            rest += chunk
            continue
        data = rest + chunk[:cut] if rest else chunk[:cut]
        rest = chunk[cut:]
        yield number, data
        number += data.count(b"\n")
    if rest:
        yield number, rest


def _utf8_binary(stream: TextIO) -> IO[bytes] | None:
    """The bytes under a UTF-8 text stream, so one undecodable line is reported, not fatal."""
    binary = getattr(stream, "buffer", None)
    encoding = getattr(stream, "encoding", None) or ""
    try:
        utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return None
    return binary if binary is not None and utf8 else None


def _text_lines(stream: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(stream, start=1):
        yield number, line.removesuffix("\n").removesuffix("\r")


# ---------------------------------------------------------------- the two processes


def parsed_blocks(
    stream: TextIO, dialect: str, *, parallel: bool | None = None
) -> Iterator[Parsed]:
    """Parse `stream` block by block, in input order.

    `parallel`: None decides by input size; True parses everything in a worker
    process (raising `WorkerError` if it cannot start); False stays in this one.
    A text stream with no UTF-8 bytes under it (`io.StringIO`) stays in this one.
    """
    binary = _utf8_binary(stream)
    if binary is None:
        lines = _text_lines(stream)
        while block := list(islice(lines, _TEXT_BLOCK_LINES)):
            yield parse_lines(block, dialect)
        return
    blocks = _blocks(binary)
    worker: _Worker | None = None
    helpers: list[_Worker] = []  # more parsing processes, for a big file (`WORKERS`)
    if parallel or (parallel is None and _big_file(binary)):
        worker = _Worker.start(dialect)
        if worker is not None:
            helpers = [h for h in (_Worker.start(dialect) for _ in range(WORKERS - 1)) if h]
        if parallel and (worker is None or not worker.wait_ready()):
            for started in (worker, *helpers):
                if started is not None:
                    started.close()
            raise WorkerError("cannot start the import's parsing process")
    seen = 0
    try:
        for first, data in blocks:
            if worker is None and parallel is None and seen >= WORKER_MIN_LINES:
                worker = _Worker.start(dialect)
            # asked for a worker: it takes over even if it died since (take_over says so)
            if worker is not None and worker.ready.is_set() and (parallel or not worker.failed):
                ready = [h for h in helpers if h.wait_ready(_HELPER_WAIT) and not h.failed]
                yield from _take_over([worker, *ready], chain([(first, data)], blocks))
                return
            parsed = parse_block(first, data, dialect)
            seen += parsed.lines
            yield parsed
    finally:
        for started in (worker, *helpers):
            if started is not None:
                started.close()


def _take_over(workers: list[_Worker], blocks: Iterator[tuple[int, bytes]]) -> Iterator[Parsed]:
    """The rest of the input parsed by `workers`, in input order.

    Several: a thread deals the blocks out in turn, and the results are taken
    back in the same turn, so the order is the input's.
    """
    if len(workers) == 1:
        yield from workers[0].take_over(blocks)
        return
    stop = threading.Event()
    hands: list[queue.Queue[Any]] = [queue.Queue(_HAND_BLOCKS) for _ in workers]
    threading.Thread(target=_deal, args=(blocks, hands, stop), daemon=True).start()
    results = [w.take_over(_dealt(hand, stop)) for w, hand in zip(workers, hands, strict=True)]
    try:
        turn = 0
        while True:
            try:
                parsed = next(results[turn % len(results)])
            except StopIteration:
                break
            yield parsed
            turn += 1
        for rest in results:  # each ends too (its DONE), or raises what went wrong
            for _ in rest:
                raise WorkerError("a parsing process returned more blocks than it was given")
    finally:
        stop.set()


def _deal(blocks: Iterator[tuple[int, bytes]], hands: list[queue.Queue[Any]], stop: Any) -> None:
    """Dealer thread: block i -> hands[i % n], then the end (None, or the input's error)."""
    end: BaseException | None = None
    try:
        for index, block in enumerate(blocks):
            if not _hand(hands[index % len(hands)], block, stop):
                return
    except BaseException as exc:  # reading the input failed: each worker's feeder raises it
        end = exc
    for hand in hands:
        _hand(hand, end, stop)


def _hand(hand: queue.Queue[Any], item: Any, stop: Any) -> bool:
    """Put `item`, unless the import stopped meanwhile (nobody would take it)."""
    while not stop.is_set():
        try:
            hand.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _dealt(hand: queue.Queue[Any], stop: Any) -> Iterator[tuple[int, bytes]]:
    """One worker's blocks (what its feeder thread sends it)."""
    while True:
        try:
            item = hand.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _big_file(binary: IO[bytes]) -> bool:
    try:
        info = os.fstat(binary.fileno())
        left = info.st_size - binary.tell()
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return stat.S_ISREG(info.st_mode) and left >= WORKER_MIN_BYTES


# Frames on the pipes: a tag byte, the payload's length (8 bytes), the payload.
# Main -> worker: BLOCK (first line number, 8 bytes, then the lines), END.
# Worker -> main: READY, PARSED (a pickled `Parsed`), DONE, FAILED (a message).
# The receiving thread only moves bytes; the main thread unpickles, so the two
# do not take turns holding the GIL for that.
BLOCK, END, READY, PARSED, DONE, FAILED = b"B", b"E", b"R", b"P", b"D", b"F"


def _write_frame(out: IO[bytes], tag: bytes, *parts: bytes) -> None:
    out.write(tag + sum(map(len, parts)).to_bytes(8, "little"))
    for part in parts:
        out.write(part)
    out.flush()


def _read_frame(source: IO[bytes]) -> tuple[bytes, bytes]:
    header = source.read(9)
    if len(header) < 9:
        raise EOFError
    size = int.from_bytes(header[1:], "little")
    payload = source.read(size)
    if len(payload) < size:
        raise EOFError
    return header[:1], payload


# Ctrl-C reaches the whole process group: the main process stops the worker itself.
_WORKER_CODE = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); sys.path[:] = {path!r};"
    " from inboxtui.jsonl import worker_main; worker_main()"
)


class _Worker:
    """The parsing process, a thread feeding it input and a thread collecting its blocks."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.ready = threading.Event()
        self.failed: str | None = None
        self.started = False  # it said READY (it may still die later: take_over reports that)
        self.results: queue.Queue[Any] = queue.Queue(_QUEUE_BLOCKS)
        self.feed_error: BaseException | None = None
        self.finished = False  # the worker said "done"
        self.closed = False
        self.receiver = threading.Thread(target=self._collect, daemon=True)
        self.receiver.start()

    @classmethod
    def start(cls, dialect: str) -> _Worker | None:
        if not sys.executable:
            return None
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE.format(path=sys.path), dialect],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
            )
        except OSError:
            return None
        return cls(process)

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """True once the worker said READY, even if it died right after (reported later)."""
        self.ready.wait(timeout)
        return self.started

    def _collect(self) -> None:
        """Receiver thread: the worker's frames -> `results` (a bounded queue)."""
        assert self.process.stdout is not None
        try:
            while True:
                tag, payload = _read_frame(self.process.stdout)
                if tag == READY:
                    self.started = True
                    self.ready.set()
                    continue
                self._put((tag, payload))
                if tag != PARSED:
                    return
        except BaseException as exc:  # EOF (it died), a closed pipe, ...: say so, never hang
            self.failed = f"the parsing process stopped unexpectedly ({type(exc).__name__})"
            self.ready.set()
            self._put((FAILED, self.failed.encode()))

    def _put(self, message: tuple[bytes, bytes]) -> None:
        """Queue a frame, unless the import ended meanwhile (nobody would take it)."""
        while not self.closed:
            try:
                self.results.put(message, timeout=0.1)
                return
            except queue.Full:
                continue

    def _feed(self, blocks: Iterator[tuple[int, bytes]]) -> None:
        """Feeder thread: input blocks -> the worker, then the end marker."""
        stdin = self.process.stdin
        assert stdin is not None
        try:
            for first, data in blocks:
                if self.closed:
                    return
                _write_frame(stdin, BLOCK, first.to_bytes(8, "little"), data)
            _write_frame(stdin, END)
        except BrokenPipeError:
            pass  # the worker is gone; the receiver reports it
        except BaseException as exc:  # reading the input failed: end the worker, then raise
            self.feed_error = exc
            with contextlib.suppress(OSError):
                _write_frame(stdin, END)

    def take_over(self, blocks: Iterator[tuple[int, bytes]]) -> Iterator[Parsed]:
        """Parse the rest of the input in the worker; blocks come back in order."""
        threading.Thread(target=self._feed, args=(blocks,), daemon=True).start()
        while True:
            tag, payload = self.results.get()
            if tag == PARSED:
                yield pickle.loads(payload)
            elif tag == DONE:
                self.finished = True
                break
            else:
                if self.feed_error is not None:
                    raise self.feed_error
                raise WorkerError(payload.decode())
        if self.feed_error is not None:
            raise self.feed_error

    def close(self) -> None:
        """Reap the worker: it is done, or unused, or the import failed (then kill it).

        Killing first matters: a feeder blocked writing to a full pipe is only
        released by the reader going away. The worker never touches the database.
        """
        self.closed = True
        if not self.finished and self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError, ValueError):
                pipe.close()  # type: ignore[union-attr]


def worker_main() -> None:
    """The parsing process: blocks in on stdin, `Parsed` out on stdout (see `_Worker`)."""
    dialect = sys.argv[1]
    inbox = sys.stdin.buffer
    outbox = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt the pipe
    _write_frame(outbox, READY)
    try:
        while True:
            try:
                tag, payload = _read_frame(inbox)
            except EOFError:
                return  # the main process closed the input: stop quietly
            if tag != BLOCK:
                break
            first = int.from_bytes(payload[:8], "little")
            parsed = parse_block(first, payload[8:], dialect)._replace(parallel=True)
            _write_frame(outbox, PARSED, pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL))
        _write_frame(outbox, DONE)
    except BrokenPipeError:
        return
    except BaseException as exc:  # report it: the main process raises WorkerError
        with contextlib.suppress(OSError):
            _write_frame(outbox, FAILED, f"the parsing process failed: {exc!r}".encode())
