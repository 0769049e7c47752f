"""`lmlab serve RUN`: an OpenAI-compatible HTTP API over any causal-LM run, and a chat page that uses it.

    POST /v1/chat/completions   messages in lmlab's chat template; stream or not
    POST /v1/completions        plain text continued; stream or not
    GET  /v1/models             the one model served (its id, and its context_length)
    GET  /health                liveness, the model, the batch in use
    GET  /                      the chat page (lmlab/serve/chat.html), a client of the same API

Requests are decoded together by lmlab.inference.engine (continuous batching, a KV-cache slot each).
Streaming is server-sent events in OpenAI's chunk format, ending with `data: [DONE]`; a client that
disconnects mid-stream cancels its request, which frees its slot at the next step.
Errors have OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with its statuses: 400 for a
malformed or invalid request (the message names the field), 401 for a missing or wrong API key (when the
server has one), 404 for an unknown model. Message contents are text: "<|end|>" typed by a client is
encoded as characters, never as the control token (lmlab.tokenizer).
Sampling: temperature (0 is greedy), top_p, max_tokens (default: the rest of the context), stop (up to 4
strings; the text stops before the first), seed (a request alone in the batch reproduces exactly; in a batch,
float rounding of batched matmuls may rarely change a draw). Fields of OpenAI's API that lmlab does not
implement (presence_penalty, logit_bias, ...) are ignored, as other compatible servers do; n must be 1.
One extension, vLLM's `ignore_eos`, decodes max_tokens tokens whatever the model says (for benchmarks).

Tool calls (a run whose tokenizer has the tool tokens; lmlab.tools). A request whose `tools` declares a function named
"calculator" gets the model's call back as OpenAI's `tool_calls` (finish_reason "tool_calls", arguments
{"expression": ...}); the client runs it and sends the result as a "tool" message, and the model goes on from it.
Without that declaration the server runs the calculator itself and the model goes on in the same response (up to
MAX_CALLS calls): the content is the model's words, and each call and result are in lmlab's own field `lmlab_tools`
of the message ([{"expression", "result"}]; a stream sends each as a chunk whose delta holds `lmlab_tool`), which
OpenAI's clients ignore. `tool_choice` is not implemented: the model decides.
"""

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI
from fastapi import Request as HTTPRequest
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lmlab.data.conversations import check_messages, render_prompt
from lmlab.errors import LmlabError
from lmlab.inference.engine import Engine, Request, SamplingParams
from lmlab.tokenizer import SPECIAL_TOKENS, StreamDecoder
from lmlab.tools.loop import call_result, tool_turn

MAX_STOP_STRINGS = 4  # as OpenAI's API
MARKER = "\u2063lmlab-text\u2063"  # stands for a token's text in a pre-serialised stream event


class APIError(Exception):
    """An error for the client, in OpenAI's shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = "invalid_request_error" if status < 500 else "server_error"

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status)


ENGINE_ERROR = APIError(500, "the model failed while decoding this request; the server's log says why")


# ---- the request bodies (strict: a string where a number belongs is a 400, not a guess) ----------------
class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    model: str | None = None  # None: the served model
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict | None = None
    n: int = 1
    ignore_eos: bool = False  # vLLM's extension, for benchmarks: decode max_tokens tokens, through special tokens
    tools: list[dict] | None = None  # function declarations: "calculator" among them returns the model's calls
    tool_choice: str | dict | None = None  # accepted, not implemented (the model decides)


class ContentPart(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    type: str
    text: str = ""


class Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None  # None: an assistant message that only calls a tool
    tool_calls: list[dict] | None = None
    tool_call_id: str | None = None


class ChatBody(Body):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)  # the newer name of max_tokens


class CompletionBody(Body):
    prompt: str | list[str]


def validation_error(exc: RequestValidationError) -> APIError:
    """Pydantic's first complaint as one line naming the field, e.g. "messages.0.role: Input should be ..."."""
    err = exc.errors()[0]
    loc = [str(part) for part in err.get("loc", ()) if part != "body"]
    if err.get("type") == "json_invalid":
        return APIError(400, f"the request body is not valid JSON ({err.get('ctx', {}).get('error', err['msg'])})")
    field = ".".join(loc)
    got = f" (got {json.dumps(err['input'])[:80]})" if "input" in err and not isinstance(err["input"], dict) else ""
    return APIError(400, f"{field}: {err['msg']}{got}" if field else f"{err['msg']}{got}", param=field or None)


# ---- one request in flight: engine thread -> asyncio ------------------------------------------------
class Outbox:
    """Hands items from the engine thread to asyncio queues, one event-loop wake-up for all that a step produced
    (the first put of a batch schedules the delivery; later puts join it until it runs)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.items, self.lock = loop, [], threading.Lock()

    def put(self, queue: asyncio.Queue, item):
        with self.lock:
            self.items.append((queue, item))
            first = len(self.items) == 1
        if first:
            self.loop.call_soon_threadsafe(self.deliver)

    def deliver(self):
        with self.lock:
            items, self.items = self.items, []
        for queue, item in items:
            queue.put_nowait(item)


class Completion(Request):
    """Turns the engine's tokens into text pieces on an asyncio queue; ends at a stop string.

    Text that could be the start of a stop string is held back until it is known not to be one, so a
    stop string never reaches the client, even split across tokens.
    """

    def __init__(self, prompt, params, tokenizer, stop_strings: list[str], outbox: Outbox, calls: bool = False):
        super().__init__(prompt, params)
        self.decoder, self.stop_strings, self.outbox = StreamDecoder(tokenizer), stop_strings, outbox
        self.tokenizer, self.call_id = tokenizer, tokenizer.special_id("<|call|>") if calls else None
        self.queue: asyncio.Queue = asyncio.Queue()
        self.held = ""
        self.stopped_at_string = False
        self.expression: list[int] | None = None  # after a <|call|>: the call's ids, not sent as text

    def _put(self, item):
        self.outbox.put(self.queue, item)

    def push(self, token: int) -> bool:
        if self.expression is not None:
            self.expression.append(token)
            return True
        if token == self.call_id:  # the words so far go out; the expression is the call's, not text
            self.expression = []
            self._emit(self.held + self.decoder.flush(), final=True)
            self.held = ""
            return not self.stopped_at_string
        return self._emit(self.held + self.decoder.push(token))

    def _emit(self, text: str, final: bool = False) -> bool:
        """Send the text up to a stop string (False: one was found), holding back a possible start of one."""
        hits = [i for i in (text.find(s) for s in self.stop_strings) if i >= 0]
        if hits:
            self.held, self.stopped_at_string = "", True
            if min(hits):
                self._put(text[: min(hits)])
            return False
        hold = 0 if final else max((k for s in self.stop_strings for k in range(1, len(s)) if text.endswith(s[:k])),
                                   default=0)  # fmt: skip
        self.held = text[len(text) - hold :]
        if len(text) > hold:
            self._put(text[: len(text) - hold])
        return True

    def finish(self, reason: str):
        end = self.tokenizer.special_id("<|end|>")
        if self.expression is not None and reason == "stop" and self.generated[-1:] == [end]:
            self._put(("call", self.tokenizer.decode(self.expression, skip_special_tokens=True)))
            return
        if not self.stopped_at_string and self.expression is None:
            self._emit(self.held + self.decoder.flush(), final=True)
        self._put((reason,))

    async def pieces(self):
        """Text pieces as they come, then the finish reason as a 1-tuple."""
        while True:
            item = await self.queue.get()
            yield item
            if isinstance(item, tuple):
                return


class Service:
    """The served model: its engine, tokenizer and name, and how a request body becomes engine work."""

    def __init__(self, model, tokenizer, name: str, max_batch: int, batch_model=None):
        self.tokenizer, self.name = tokenizer, name
        self.block_size = model.config.block_size
        self.engine = Engine(model, max_batch, batch_model)
        self.outbox: Outbox | None = None  # made by the app's event loop when it starts
        self.special_ids = tuple(i for t in SPECIAL_TOKENS if (i := tokenizer.special_id(t)) is not None)
        self.call_id = tokenizer.special_id("<|call|>") if tokenizer.has_tools else None

    def check_model(self, model: str | None):
        if model is not None and model != self.name:
            raise APIError(404, f"The model '{model}' does not exist (this server serves '{self.name}')", "model",
                           "model_not_found")  # fmt: skip

    def start(self, body: Body, prompt: list[int], field: str, calls: bool = False) -> Completion:
        """Check the body's settings against the prompt and submit it to the engine; calls: a <|call|> does not stop
        the reply (a chat's tool call, read by Completion)."""
        if body.n != 1:
            raise APIError(400, f"n: only n=1 is supported, got {body.n}", "n")
        room = self.block_size - len(prompt)
        limit = f"This model's maximum context length is {self.block_size} tokens"
        if room < 1:
            message = f"{limit}, and the {field} has {len(prompt)} tokens; shorten the {field}"
            raise APIError(400, message, field, "context_length_exceeded")
        max_tokens = getattr(body, "max_completion_tokens", None) or body.max_tokens
        if max_tokens is not None and max_tokens > room:
            message = (f"{limit}; you requested {len(prompt) + max_tokens} ({len(prompt)} in the {field}, "
                       f"{max_tokens} for the completion)")  # fmt: skip
            raise APIError(400, message, "max_tokens", "context_length_exceeded")
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        if len(stops) > MAX_STOP_STRINGS or not all(stops):
            raise APIError(400, f"stop: up to {MAX_STOP_STRINGS} non-empty strings, got {stops!r}", "stop")
        calls = calls and self.call_id is not None
        stop_ids = () if body.ignore_eos else tuple(i for i in self.special_ids if not (calls and i == self.call_id))
        params = SamplingParams(body.temperature, body.top_p, max_tokens or room, stop_ids, body.seed)
        completion = Completion(prompt, params, self.tokenizer, stops, self.outbox, calls)
        self.engine.submit(completion)
        return completion

    def resume(self, previous: Completion, result: str) -> Completion | None:
        """The model's next turn after the calculator's result, in what is left of the budget (None: no room)."""
        prompt = previous.prompt + previous.generated + tool_turn(self.tokenizer, result)
        left = min(previous.params.max_tokens - len(previous.generated), self.block_size - len(prompt))
        if left < 1:
            return None
        params = SamplingParams(previous.params.temperature, previous.params.top_p, left, previous.params.stop_ids,
                                previous.params.seed)  # fmt: skip
        completion = Completion(prompt, params, self.tokenizer, previous.stop_strings, self.outbox, True)
        self.engine.submit(completion)
        return completion

    def chat_prompt(self, body: ChatBody) -> list[int]:
        messages = []
        for i, m in enumerate(body.messages):
            if isinstance(m.content, str) or m.content is None:
                content = m.content
            elif all(part.type == "text" for part in m.content):
                content = "".join(part.text for part in m.content)
            else:
                raise APIError(400, f"messages.{i}.content: only text parts are supported", f"messages.{i}.content")
            message = {"role": "system" if m.role == "developer" else m.role, "content": content}
            messages.append(message | ({"tool_calls": m.tool_calls} if m.tool_calls else {}))
        try:
            return render_prompt(self.tokenizer, check_messages(messages, "messages", require_assistant=False))
        except LmlabError as e:
            raise APIError(400, str(e), "messages") from None

    def text_prompt(self, body: CompletionBody) -> list[int]:
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if len(prompts) != 1:
            raise APIError(400, f"prompt: one prompt per request is supported, got {len(prompts)}", "prompt")
        # an empty prompt starts a new document, as lmlab sample does
        return self.tokenizer.encode(prompts[0]) if prompts[0] else [self.tokenizer.eos_id]


class Turns:
    """The completions of one request: the model's turns and, between them, the calculator's results when the server
    runs it (the module docstring). `events()` yields text pieces, ("tool", expression, result) for a call the server
    ran, and last ("call", expression) for a call the client runs, or the finish reason as a 1-tuple."""

    def __init__(self, service: "Service", completion: Completion, client_tools: bool):
        self.service, self.current, self.client_tools = service, completion, client_tools
        self.prompt_tokens, self.completion_tokens = len(completion.prompt), 0
        self.tools: list[dict] = []  # the calls the server ran: {"expression", "result"}

    def cancel(self):
        self.current.cancel()

    async def events(self):
        while True:
            async for item in self.current.pieces():
                if not isinstance(item, tuple):
                    yield item
                    continue
                self.completion_tokens += len(self.current.generated)
                if item[0] != "call" or self.client_tools:
                    yield item
                    return
                result = call_result(item[1], len(self.tools))
                if result is None:  # past the limit's error result: the reply ends
                    yield ("stop",)
                    return
                self.tools.append({"expression": item[1], "result": result})
                yield ("tool", item[1], result)
                following = self.service.resume(self.current, result)
                if following is None:
                    yield ("length",)
                    return
                self.current = following
                break

    def usage(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}  # fmt: skip


def finish_reason(reason: str) -> str:
    return {"length": "length", "call": "tool_calls"}.get(reason, "stop")


def tool_calls(expression: str) -> list[dict]:
    """A call of the calculator in OpenAI's shape."""
    arguments = json.dumps({"expression": expression})
    return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
             "function": {"name": "calculator", "arguments": arguments}}]  # fmt: skip


def declares_calculator(body: Body) -> bool:
    """Whether the request's `tools` declare the calculator (the client runs the calls)."""
    return any(isinstance(t, dict) and (t.get("function") or {}).get("name") == "calculator" for t in body.tools or [])


def sse(chunk) -> str:
    return f"data: {chunk if isinstance(chunk, str) else json.dumps(chunk)}\n\n"


async def respond(http: HTTPRequest, turns: Turns, body: Body, service: Service, chat: bool):
    """The OpenAI response to a started request: one JSON object, or a stream of chunks."""
    kind, chunk_kind = ("chat.completion", "chat.completion.chunk") if chat else ("text_completion", "text_completion")
    head = {"id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}", "created": int(time.time()),
            "model": service.name}  # fmt: skip

    def choice(text: str, reason: str | None, delta: dict | None = None) -> dict:
        if chat:
            delta = delta or ({"content": text} if text else {})
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": reason}

    def chunk(reason: str | None = None, delta: dict | None = None) -> str:
        return sse({**head, "object": chunk_kind, "choices": [choice("", reason, delta)]})

    if body.stream:

        async def events():
            try:
                if chat:
                    first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                    yield sse({**head, "object": chunk_kind, "choices": [first]})
                # a token's event is this chunk with its text in place of the marker: one json.dumps of the text
                template = sse({**head, "object": chunk_kind, "choices": [choice(MARKER, None)]})
                prefix, suffix = template.split(json.dumps(MARKER))
                async for item in turns.events():
                    if item == ("error",):  # the engine failed on this batch (the server log says why)
                        yield sse(ENGINE_ERROR.response().body.decode())
                    elif isinstance(item, tuple) and item[0] == "tool":
                        yield chunk(delta={"lmlab_tool": {"expression": item[1], "result": item[2]}})
                    elif isinstance(item, tuple) and item[0] == "call":
                        calls = [{"index": 0, **call} for call in tool_calls(item[1])]
                        yield chunk(delta={"tool_calls": calls})
                        yield chunk("tool_calls")
                    elif isinstance(item, tuple):
                        yield chunk(finish_reason(item[0]))
                    else:
                        yield prefix + json.dumps(item) + suffix
                if (body.stream_options or {}).get("include_usage"):
                    yield sse({**head, "object": chunk_kind, "choices": [], "usage": turns.usage()})
                yield sse("[DONE]")
            finally:  # the client is gone (or the stream ended): free the slot
                turns.cancel()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def collect() -> tuple[list[str], str, str | None]:
        text, reason, call = [], "stop", None
        async for item in turns.events():
            if isinstance(item, tuple) and item[0] != "tool":
                reason, call = item[0], item[1] if item[0] == "call" else None
            elif not isinstance(item, tuple):
                text.append(item)
        return text, reason, call

    task = asyncio.create_task(collect())
    while not (await asyncio.wait({task}, timeout=1.0))[0]:
        if await http.is_disconnected():  # nobody waits for the answer: stop decoding it
            turns.cancel()
            task.cancel()
            return JSONResponse({}, status_code=499)
    text, reason, call = task.result()
    if reason == "error":
        raise ENGINE_ERROR
    text = "".join(text)
    if chat:
        message = {"role": "assistant", "content": text}
        if call is not None:
            message = {"role": "assistant", "content": text or None, "tool_calls": tool_calls(call)}
        if turns.tools:
            message["lmlab_tools"] = turns.tools
        choices = [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(reason)}]
    else:
        choices = [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason(reason)}]
    return {**head, "object": kind, "choices": choices, "usage": turns.usage()}


def create_app(service: Service, api_key: str | None = None) -> FastAPI:
    """The FastAPI app over a Service; the engine runs while the app does."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.outbox = Outbox(asyncio.get_running_loop())
        service.engine.start()
        yield
        service.engine.stop()

    app = FastAPI(title="lmlab", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(APIError)
    async def api_error(request, exc: APIError):
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError):
        return validation_error(exc).response()

    async def authorize(http: HTTPRequest):
        if api_key is None:
            return
        given = http.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            what = "no API key was given" if not given else "the API key is not valid"
            raise APIError(401, f"Unauthorized: {what} (send 'Authorization: Bearer KEY')", code="invalid_api_key")

    def model_card() -> dict:
        return {"id": service.name, "object": "model", "created": 0, "owned_by": "lmlab",
                "context_length": service.block_size}  # fmt: skip

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": service.name, "context_length": service.block_size,
                "auth_required": api_key is not None, "max_batch": service.engine.max_batch,
                "in_flight": service.engine.busy}  # fmt: skip

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    async def models():
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model}", dependencies=[Depends(authorize)])
    async def model(model: str):
        service.check_model(model)
        return model_card()

    @app.post("/v1/chat/completions", dependencies=[Depends(authorize)])
    async def chat_completions(body: ChatBody, http: HTTPRequest):
        service.check_model(body.model)
        completion = service.start(body, service.chat_prompt(body), "messages", calls=True)
        return await respond(http, Turns(service, completion, declares_calculator(body)), body, service, chat=True)

    @app.post("/v1/completions", dependencies=[Depends(authorize)])
    async def completions(body: CompletionBody, http: HTTPRequest):
        service.check_model(body.model)
        completion = service.start(body, service.text_prompt(body), "prompt")
        return await respond(http, Turns(service, completion, False), body, service, chat=False)

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return resources.files("lmlab.serve").joinpath("chat.html").read_text(encoding="utf-8")

    return app


def load_service(run: str | Path, name: str | None = None, max_batch: int = 8, device="auto", dtype="auto"):
    """A Service over the run's model, on the device asked for, in the precision of `dtype`.

    bfloat16 (what auto gives on a GPU with bf16 and on a CPU with AVX512-BF16 or AMX): on a GPU the weights are
    cast to bf16; on a CPU the fp32 model decodes a lone sequence and a bf16 copy decodes batches
    (lmlab.inference.engine: each is the faster there). float32: the fp32 model for everything.
    """
    import copy

    import torch

    from lmlab.device import pick_device, resolve_dtype
    from lmlab.runs import load_run

    if max_batch < 1:
        raise LmlabError(f"--max-batch must be at least 1, got {max_batch}")
    device = pick_device(device)
    model, tokenizer, _ = load_run(run, device)
    batch_model = None
    if resolve_dtype(dtype, device) == torch.bfloat16:
        if device.type == "cpu":
            batch_model = copy.deepcopy(model).to(torch.bfloat16)
        else:
            model = model.to(torch.bfloat16)
    return Service(model, tokenizer, name or Path(run).resolve().name, max_batch, batch_model)


def serve(run, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None, name: str | None = None,
          max_batch: int = 8, device="auto", dtype="auto", threads: int = 0):  # fmt: skip
    """Serve a run until interrupted. threads: torch's CPU threads; 0 leaves one core to the HTTP side (the event
    loop that streams the tokens), which on 2 cores serves 1 client and 8 faster than 2 threads (bench/serve.py)."""
    import torch
    import uvicorn

    torch.set_num_threads(threads or max(1, torch.get_num_threads() - 1))

    service = load_service(run, name, max_batch, device, dtype)
    sock = bind(host, port)
    where = f"http://{host}:{sock.getsockname()[1]}"
    print(f"lmlab: serving {run} as '{service.name}' at {where}/v1 (chat page: {where}/)", flush=True)
    uvicorn.Server(uvicorn.Config(create_app(service, api_key), log_level="warning")).run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise LmlabError(f"cannot listen on {host}:{port} ({e.strerror})") from None
    return sock


@contextlib.contextmanager
def running_server(service: Service, api_key: str | None = None, host: str = "127.0.0.1", port: int = 0):
    """Serve in a background thread (tests, notebooks); yields the base URL, e.g. http://127.0.0.1:PORT."""
    import uvicorn

    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(create_app(service, api_key), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
