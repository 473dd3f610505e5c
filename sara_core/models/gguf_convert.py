"""Convert any GGUF file once into a float32 safetensors folder in the cache, keyed by content.

Dequantizing a GGUF file takes tens of seconds to minutes; loading the saved safetensors takes
seconds. The cache folder is named after the GGUF file's SHA-256, so a changed file gets a new
folder and a renamed or copied one reuses the old; the hash is computed once and remembered by
(path, size, mtime) in ``gguf-hashes.json`` next to the folders. A conversion writes a temp
folder and renames it into place after its completion marker, so a failure or a kill leaves no
half-converted cache; a folder whose files no longer match their marker is converted again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sara_core.models.cache import cache_dir
from sara_core.models.gguf_header import GGUFHeader, check_supported, read_header

log = logging.getLogger(__name__)

Progress = Callable[[str, "float | None"], None]
"""``progress(stage, fraction)``: what the conversion is doing, how far it is (None: unknown)."""
CACHE_FORMAT = 2
"""Bump when the folder layout changes: older folders are then converted again (2: every end
token in the generation config, Gemma 3's image tokens special)."""
COMPLETE_MARKER = "complete.json"
HASHES_FILE = "gguf-hashes.json"
MAX_REMEMBERED = 256
"""Most file hashes remembered; the oldest are forgotten first."""
_CHUNK = 1 << 22
END_OF_TURN_TOKENS = ("<end_of_turn>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>")
"""Tokens that end a turn in the chat formats we know; each one the vocabulary holds ends an
answer (transformers' GGUF loader keeps only the file's eos)."""
_GGUF_END_KEYS = ("eos_token_id", "eot_token_id", "eom_token_id")
CONTROL_LIKE = {"gemma3": ("[multimodal]", "<start_of_image>", "<end_of_image>")}
"""Tokens a GGUF file marks USER_DEFINED although they are control tokens (Gemma 3's image
markers): a text-only model must never show them, so the saved tokenizer marks them special."""
_hash_lock = threading.Lock()
_parse_lock = threading.Lock()


def _silent(_stage: str, _fraction: float | None) -> None:
    pass


def file_sha256(path: Path, progress: Progress = _silent, stage: str = "hashing") -> str:
    """The SHA-256 of a file, read in 4 MiB chunks (bounded memory), with progress."""
    size = max(1, path.stat().st_size)
    h = hashlib.sha256()
    done = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
            done += len(chunk)
            progress(stage, min(1.0, done / size))
    return h.hexdigest()


def _hashes_path(cache: Path) -> Path:
    return cache / HASHES_FILE


def _read_hashes(cache: Path) -> dict[str, Any]:
    try:
        data = json.loads(_hashes_path(cache).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember_sha256(path: Path, sha256: str, cache: Path | None = None) -> None:
    """Record ``path``'s hash, valid while its size and mtime stay the same (atomic write)."""
    cache = cache or cache_dir()
    stat = path.stat()
    key = str(path.resolve())
    with _hash_lock:
        cache.mkdir(parents=True, exist_ok=True)
        data = _read_hashes(cache)
        data.pop(key, None)
        data[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
        while len(data) > MAX_REMEMBERED:
            data.pop(next(iter(data)))
        fd, tmp = tempfile.mkstemp(prefix=HASHES_FILE, dir=cache)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, _hashes_path(cache))


def known_sha256(path: Path, cache: Path | None = None, progress: Progress = _silent) -> str:
    """``path``'s SHA-256: remembered when the file is unchanged since, else computed now."""
    cache = cache or cache_dir()
    stat = path.stat()
    entry = _read_hashes(cache).get(str(path.resolve()))
    if (
        isinstance(entry, dict)
        and entry.get("size") == stat.st_size
        and entry.get("mtime_ns") == stat.st_mtime_ns
        and isinstance(entry.get("sha256"), str)
    ):
        return str(entry["sha256"])
    sha = file_sha256(path, progress, "hashing the GGUF file")
    try:
        remember_sha256(path, sha, cache)
    except OSError as exc:  # a read-only cache: the hash is computed again next time
        log.warning("cannot remember the hash of %s (%s)", path, exc)
    return sha


def converted_folder(sha256: str, cache: Path | None = None) -> Path:
    """The cache folder of the GGUF file with this SHA-256."""
    return (cache or cache_dir()) / f"gguf-{sha256[:24]}-f{CACHE_FORMAT}"


def _weight_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def cache_is_complete(folder: Path) -> bool:
    """A folder counts only with its marker, and with the weight files the marker lists, each
    the same size; a file modified since it was written is hashed again to be trusted."""
    try:
        meta = json.loads((folder / COMPLETE_MARKER).read_text())
        files = meta["files"]
        if meta.get("format") != CACHE_FORMAT or not files:
            return False
        if sorted(files) != [p.name for p in _weight_files(folder)]:
            return False
        for name, want in files.items():
            stat = (folder / name).stat()
            if want["size"] != stat.st_size:
                return False
            if want["mtime_ns"] != stat.st_mtime_ns and want["sha256"] != file_sha256(
                folder / name
            ):
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def strip_quantization(model: Any) -> None:
    """Make a GGUF-dequantized model save as a plain float model."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False


def end_token_ids(header: GGUFHeader, tok: Any) -> list[int]:
    """Every id that ends an answer: the file's eos, eot and eom ids and the known end-of-turn
    tokens its vocabulary holds."""
    ids = set()
    for key in _GGUF_END_KEYS:
        value = header.metadata.get(f"tokenizer.ggml.{key}")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            ids.add(value)
    vocab = tok.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
    return sorted(ids)


def mark_special(folder: Path, architecture: str) -> list[str]:
    """Mark the architecture's control-like tokens special in ``folder``'s tokenizer.json, so
    decoding with ``skip_special_tokens`` drops them; the tokens marked."""
    names = set(CONTROL_LIKE.get(architecture, ()))
    path = folder / "tokenizer.json"
    if not names or not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    marked = []
    for entry in data.get("added_tokens", []):
        if entry.get("content") in names and not entry.get("special"):
            entry["special"] = True
            marked.append(entry["content"])
    if marked:
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return marked


@contextmanager
def _one_parse() -> Iterator[None]:
    """Parse the file's metadata once per conversion. transformers parses a GGUF file three times
    to convert it (config, tokenizer, weights), and gguf's reader builds a numpy view per
    vocabulary entry, so with a large vocabulary the parses cost more than the dequantizing
    (docs/real-models.md has the figures). transformers imports ``gguf.GGUFReader`` inside its
    functions, so handing it a memoizing factory for the conversion's duration is enough; the
    lock keeps two conversions in one process from sharing the patch."""
    import gguf

    with _parse_lock:
        original = gguf.GGUFReader
        readers: dict[tuple[str, str], Any] = {}

        def reader(path: Any, mode: str = "r") -> Any:
            key = (str(path), mode)
            if key not in readers:
                readers[key] = original(path, mode)  # type: ignore[arg-type]
            return readers[key]

        gguf.GGUFReader = reader  # type: ignore[misc,assignment]
        try:
            yield
        finally:
            gguf.GGUFReader = original  # type: ignore[misc]
            readers.clear()


def _write(gguf: Path, tmp: Path, header: GGUFHeader, sha256: str, report: Progress) -> None:
    """Dequantize ``gguf`` into ``tmp`` (one parse of its metadata: :func:`_one_parse`)."""
    with _one_parse():
        _write_parsed(gguf, tmp, header, sha256, report)


def _write_parsed(gguf: Path, tmp: Path, header: GGUFHeader, sha256: str, report: Progress) -> None:
    """Dequantize ``gguf`` into ``tmp``: weights, config, tokenizer and the marker last."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report("reading the tokenizer", 0.05)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    report("dequantizing the weights to float32", 0.15)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    strip_quantization(model)
    ends = end_token_ids(header, tok)
    if ends:
        model.generation_config.eos_token_id = ends
    report("writing safetensors", 0.7)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    marked = mark_special(tmp, header.architecture)
    del model
    report("checksumming the written weights", 0.9)
    files = {}
    for path in _weight_files(tmp):
        stat = path.stat()
        files[path.name] = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": file_sha256(path),
        }
    meta = {
        "format": CACHE_FORMAT,
        "source": str(gguf),
        "source_sha256": sha256,
        "architecture": header.architecture,
        "blocks": header.block_count,
        "hidden": header.embedding_length,
        "vocab": header.vocab_size,
        "gguf_parameters": header.parameter_count,
        "eos_token_ids": ends,
        "marked_special": marked,
        "files": files,
    }
    (tmp / COMPLETE_MARKER).write_text(json.dumps(meta, indent=1))


def convert_gguf(
    gguf: Path | str,
    cache: Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> Path:
    """The converted folder of ``gguf``: reused when complete, else converted now (``force``:
    converted again). The header is checked first, and an architecture transformers cannot load
    is refused in one line (GGUFHeaderError) before anything is dequantized. Any failure leaves
    the cache as it was, less a damaged folder for this file."""
    report = progress or _silent
    gguf = Path(gguf)
    cache = cache or cache_dir()
    header = read_header(gguf)
    check_supported(header)
    sha = known_sha256(gguf, cache, report)
    target = converted_folder(sha, cache)
    if not force and cache_is_complete(target):
        return target
    log.info("converting %s (%s) into %s", gguf.name, header.architecture, target)
    report(f"converting {gguf.name} once into {target.name}", 0.0)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=cache))
    try:
        _write(gguf, tmp, header, sha, report)
        if target.exists():  # damaged (or forced): replaced whole
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not cache_is_complete(target):  # another process did not finish it first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    report("converted", 1.0)
    return target
