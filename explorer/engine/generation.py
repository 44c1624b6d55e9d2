"""Generation in a worker process: a prompt's tokens, token by token to the client in batches, with
the stop flag read between tokens; and a prefill that decodes ahead what the next turn will start
with. Runs in the child only (llama_cpp is imported there); worker.py serves requests with it.
"""

from __future__ import annotations

import codecs
import contextlib
import time
from typing import Any

from explorer.engine.messages import Done, DoneReason, GenerateRequest, Prefill, Tokens, _Conn, _Flag
from explorer.gguf.fim import FimUnsupported, fim_prompt, find_fim_tokens

FLUSH_SECONDS = 0.03
FLUSH_TOKENS = 16
PREFILL_CHUNK = 64  # tokens decoded between two looks for a request that should go first


def common_prefix(a: Any, b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _prefill(llm: Any, conn: Any, req: Prefill) -> None:
    """Extend the cache to `req.prompt` (the part it does not hold yet), a chunk at a time; a request
    waiting on the pipe ends it (what is decoded stays: `Llama.generate` finds it as a prefix)."""
    try:
        tokens = llm.tokenize(req.prompt.encode("utf-8"), add_bos=True, special=True)
        if not tokens or len(tokens) >= int(llm.n_ctx()):
            return
        keep = common_prefix(llm._input_ids, tokens)
        if keep >= len(tokens):
            return
        try:
            for start in range(keep, len(tokens), PREFILL_CHUNK):
                if conn.poll():
                    return
                # Cut back only right before an eval: llama-cpp-python takes the logits it holds as the
                # last kept token's, and an exact prompt hit samples from them (a cut with no eval after
                # it made a Regenerate sample from the previous answer's last token: an empty answer).
                llm.n_tokens = start  # eval() drops the cells after it
                llm.eval(tokens[start:start + PREFILL_CHUNK])
        finally:
            # llama.cpp adds decoded tokens to its prompt counters when it next synchronizes: do it now,
            # or the next answer's "prompt tokens evaluated" and prefill time would count this work.
            import llama_cpp

            llama_cpp.llama_synchronize(llm.ctx)
    except Exception:  # a warm-up only: the next request decodes whatever this did not
        with contextlib.suppress(Exception):
            llm.n_tokens = 0


def token_id(llm: Any, text: str) -> int | None:
    """The id of the special token spelled `text` in the model's vocabulary, None if it has none."""
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    if len(ids) != 1 or llm.detokenize(ids, special=True).decode("utf-8", "replace") != text:
        return None
    return int(ids[0])


def think_tokens(llm: Any) -> tuple[int | None, int | None]:
    """The ids of <think> and </think> (None where the vocabulary has no such token). A batch of text
    sent to the client never holds tokens from both sides of one (`Tokens` ends before <think> and
    after </think>), so the client can count thinking tokens exactly from whole batches."""
    return token_id(llm, "<think>"), token_id(llm, "</think>")


def _has_fim(llm: Any) -> bool:
    try:
        find_fim_tokens(lambda text: token_id(llm, text))
    except FimUnsupported:
        return False
    return True


def prompt_tokens(llm: Any, req: GenerateRequest) -> tuple[list[int], frozenset[int]]:
    """The prompt's token ids for `req`, and the extra ids that end its generation (FIM's stop set).
    FimUnsupported when a FIM request meets a vocabulary without the FIM tokens."""
    if req.fim is not None:
        fim = find_fim_tokens(lambda text: token_id(llm, text))
        prefix, suffix = (llm.tokenize(part.encode("utf-8"), add_bos=False, special=False) for part in req.fim)
        bos = llm.tokenize(b"", add_bos=True, special=False)  # [BOS] where the GGUF asks for one, else []
        return fim_prompt(fim, prefix, suffix, bos=bos[0] if bos else None), fim.stops
    return llm.tokenize(req.prompt.encode("utf-8"), add_bos=True, special=not req.raw), frozenset()


def _generate(llm: Any, conn: _Conn, stop_flag: _Flag, req: GenerateRequest,
              think: tuple[int | None, int | None]) -> None:
    """Answer `req`. `think`: the model's `think_tokens`, looked up once per load by the caller (each
    lookup tokenizes: ~3 ms with the generated vocabulary, on every answer's first token)."""
    import llama_cpp

    t_start = time.perf_counter()
    n_prompt = 0
    n_tokens = 0
    t_first: float | None = None

    def done(reason: DoneReason, message: str = "") -> None:
        now = time.perf_counter()
        perf = llama_cpp.llama_perf_context(llm.ctx) if t_first is not None else None
        evaluated = int(perf.n_p_eval) if perf is not None else 0
        ttft = (t_first - t_start) if t_first is not None else 0.0
        if n_tokens > 1 and t_first is not None and now > t_first:
            tps = (n_tokens - 1) / (now - t_first)
        elif n_tokens == 1 and ttft > 0:
            tps = 1 / ttft
        else:
            tps = 0.0
        conn.send(Done(req.request_id, reason, n_prompt, n_tokens, ttft, tps, message,
                       evaluated, float(perf.t_p_eval_ms) / 1000 if perf is not None and evaluated else 0.0))

    try:
        try:
            tokens, stop_ids = prompt_tokens(llm, req)
        except FimUnsupported as exc:
            done("error", str(exc))
            return
        n_prompt = len(tokens)
        room = int(llm.n_ctx()) - n_prompt
        if room <= 0:
            done("error", f"the prompt has {n_prompt} tokens, more than the {llm.n_ctx()} the context holds: "
                          "shorten it (or clear the conversation), or use a larger context (--ctx, or the pane's "
                          "settings)")
            return
        max_tokens = min(req.max_tokens, room) if req.max_tokens > 0 else room
        if stop_flag.is_set():
            done("stopped")
            return
        llm.set_seed(req.seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = [s for s in req.stop if s]
        hold = max((len(s) for s in stops), default=1) - 1
        text = ""  # decoded, not yet sent
        pending_tokens = 0
        last_send = time.perf_counter()
        reason: DoneReason = "length"
        vocab = llm._model.vocab
        think_open, think_close = think

        def flush(final: bool) -> None:
            nonlocal text, pending_tokens, last_send
            cut = len(text) if final else max(0, len(text) - hold)
            if cut > 0 or (final and pending_tokens):
                conn.send(Tokens(req.request_id, text[:cut], pending_tokens))
                text, pending_tokens = text[cut:], 0
                last_send = time.perf_counter()

        llama_cpp.llama_perf_context_reset(llm.ctx)  # its prompt counters then tell this prompt's prefill
        for token in llm.generate(tokens, top_k=req.top_k, top_p=req.top_p, min_p=req.min_p,
                                  temp=req.temperature, repeat_penalty=req.repeat_penalty,
                                  presence_penalty=req.presence_penalty):
            if t_first is None:
                t_first = time.perf_counter()
            if llama_cpp.llama_vocab_is_eog(vocab, token) or token in stop_ids:
                reason = "stop"
                break
            if token == think_open and pending_tokens:
                flush(final=True)  # what came before the thinking goes in a batch of its own
            n_tokens += 1
            pending_tokens += 1
            piece = llm.detokenize([token], special=True)
            text += decoder.decode(piece)
            if stops:
                hit = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
                if hit >= 0:
                    text = text[:hit]
                    reason = "stop"
                    break
            if n_tokens >= max_tokens:
                break
            if stop_flag.is_set():
                reason = "stopped"
                break
            # The first token goes out at once (time to first token is what a person notices), the rest
            # in batches.
            if token == think_close:
                flush(final=True)  # the thinking ends this batch: the next one is answer only
            elif (n_tokens == 1 or pending_tokens >= FLUSH_TOKENS
                  or time.perf_counter() - last_send >= FLUSH_SECONDS):
                flush(final=False)
        text += decoder.decode(b"", final=True)
        flush(final=True)
        done(reason)
    except Exception as exc:
        done("error", f"{type(exc).__name__}: {exc}")
