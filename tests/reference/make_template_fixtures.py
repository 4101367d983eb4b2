#!/usr/bin/env python3
"""Renders hanlin's chat-template parity fixtures with Hugging Face transformers (the reference).

usage: make_template_fixtures.py TOKENIZER_DIR TEMPLATES_DIR CONVERSATIONS OUTDIR

  TOKENIZER_DIR  the real Qwen3 tokenizer (third_party/qwen3-tokenizer: tokenizer.json and
                 tokenizer_config.json with its "chat_template")
  TEMPLATES_DIR  tests/fixtures/templates (Qwen-Qwen2.5-7B-Instruct.jinja, Qwen-QwQ-32B.jinja)
  CONVERSATIONS  tests/fixtures/templates/conversations.json
  OUTDIR         where rendered.jsonl is written (tests/fixtures/templates to update the fixtures)

For each template and each conversation (an OpenAI chat-completions request body), the request is
converted exactly as hanlin converts it (see to_template_inputs and
src/text/chat_template/render_context.h), then rendered with

    tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=...,
                                  tokenize=False, chat_template=..., **chat_template_kwargs)

The Qwen3 template is the tokenizer's own (no chat_template argument); Qwen2.5 and QwQ are passed
as chat_template=<file text>. A conversation the conversion refuses, or a template raising, is
recorded as an expected error. Output: OUTDIR/rendered.jsonl, first a {"meta": ...} line, then one
line per (template, conversation): {"template", "conversation", "name", "text"} or {..., "error"}.

Needs transformers and jinja2; no network (HF_HUB_OFFLINE is set).
"""

import copy
import json
import os
import sys

TEMPLATES = [
    # (name, file in TEMPLATES_DIR, or None for the tokenizer's own chat_template)
    ("Qwen-Qwen3-0.6B", None),
    ("Qwen-Qwen2.5-7B-Instruct", "Qwen-Qwen2.5-7B-Instruct.jinja"),
    ("Qwen-QwQ-32B", "Qwen-QwQ-32B.jinja"),
]

RESERVED_KWARGS = ("messages", "tools", "documents", "add_generation_prompt")


class RequestError(Exception):
    """The request conversion refuses the body (hanlin answers such a request with an error)."""


class HarnessError(Exception):
    """This script, not the template, went wrong: stop rather than record a bogus expected error."""


def flatten_content(content, field):
    """A string stays; None becomes ""; text parts are joined with "\\n"; other parts are refused."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RequestError(f"{field}.content must be a string, an array of content parts or null")
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RequestError(f"{field}.content[{j}] must be an object with a string type")
        if part["type"] != "text":
            raise RequestError(f"{field}.content[{j}].type '{part['type']}' is not supported (text only)")
        if not isinstance(part.get("text"), str):
            raise RequestError(f"{field}.content[{j}].text must be a string")
        texts.append(part["text"])
    return "\n".join(texts)


def convert_arguments(arguments):
    """A JSON string is parsed (Qwen templates print `arguments | tojson`); other strings stay;
    None or "" become {}."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    if isinstance(arguments, (dict, list)):
        return arguments
    raise RequestError("tool call arguments must be a JSON string or an object")


def to_template_inputs(request):
    """The request conversion of src/text/chat_template/render_context.cpp, step for step."""
    if not isinstance(request, dict):
        raise RequestError("the request body must be a JSON object")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty array")
    converted = []
    for i, message in enumerate(messages):
        field = f"messages[{i}]"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(f"{field} must be an object with a string role")
        for key, allow_none in (("name", False), ("tool_call_id", False), ("reasoning_content", True)):
            if key in message and not (isinstance(message[key], str) or (allow_none and message[key] is None)):
                raise RequestError(f"{field}.{key} has the wrong type")
        out = copy.deepcopy(message)
        out["content"] = flatten_content(message.get("content"), field)
        if "tool_calls" in message and message["tool_calls"] is not None:
            if not isinstance(message["tool_calls"], list):
                raise RequestError(f"{field}.tool_calls must be an array")
            for call in out["tool_calls"]:
                if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
                    raise RequestError(f"{field}.tool_calls[].function must be an object")
                if not isinstance(call["function"].get("name"), str):
                    raise RequestError(f"{field}.tool_calls[].function.name must be a string")
                call["function"]["arguments"] = convert_arguments(call["function"].get("arguments"))
        converted.append(out)
    tools = request.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise RequestError("tools must be an array of objects")
    add_generation_prompt = request.get("add_generation_prompt", True)
    if not isinstance(add_generation_prompt, bool):
        raise RequestError("add_generation_prompt must be a boolean")
    kwargs = request.get("chat_template_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise RequestError("chat_template_kwargs must be an object")
    for name in kwargs:
        if name in RESERVED_KWARGS:
            raise RequestError(f"chat_template_kwargs.{name} is reserved")
    return converted, copy.deepcopy(tools), add_generation_prompt, copy.deepcopy(kwargs)


def render(tokenizer, template_text, request):
    messages, tools, add_generation_prompt, kwargs = to_template_inputs(request)
    extra = {} if template_text is None else {"chat_template": template_text}
    text = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=add_generation_prompt,
                                         tokenize=False, **extra, **kwargs)
    if isinstance(text, list) and len(text) == 1:
        text = text[0]
    if not isinstance(text, str):
        raise HarnessError(f"apply_chat_template(tokenize=False) returned {type(text).__name__}, expected str")
    return text


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    tokenizer_dir, templates_dir, conversations_path, outdir = argv[1:]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import jinja2
    import transformers
    from transformers import AutoTokenizer

    print(f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    print(f"loaded tokenizer from {tokenizer_dir}: {type(tokenizer).__name__}", flush=True)
    with open(conversations_path, encoding="utf-8") as f:
        conversations = json.load(f)["conversations"]
    print(f"{len(conversations)} conversations from {conversations_path}", flush=True)

    templates = []
    for name, filename in TEMPLATES:
        if filename is None:
            own = tokenizer.chat_template
            if not isinstance(own, str):
                raise SystemExit(f"{tokenizer_dir}: the tokenizer has no string chat_template ({type(own).__name__})")
            reference = os.path.join(templates_dir, name + ".jinja")
            if os.path.exists(reference):
                with open(reference, encoding="utf-8") as f:
                    if f.read() != own:
                        print(f"warning: {reference} differs from the tokenizer's chat_template", flush=True)
            templates.append((name, None))
        else:
            with open(os.path.join(templates_dir, filename), encoding="utf-8") as f:
                templates.append((name, f.read()))

    os.makedirs(outdir, exist_ok=True)
    out_path = os.path.join(outdir, "rendered.jsonl")
    num_errors = 0
    with open(out_path, "w", encoding="utf-8") as out:
        meta = {"transformers": transformers.__version__, "jinja2": jinja2.__version__,
                "tokenizer_dir": os.path.basename(os.path.normpath(tokenizer_dir)),
                "templates": [name for name, _ in templates], "num_conversations": len(conversations)}
        out.write(json.dumps({"meta": meta}, ensure_ascii=False) + "\n")
        for name, template_text in templates:
            for index, conversation in enumerate(conversations):
                record = {"template": name, "conversation": index, "name": conversation.get("name", "")}
                try:
                    record["text"] = render(tokenizer, template_text, conversation["request"])
                except HarnessError:
                    raise
                except RequestError as error:
                    record["error"] = f"request: {error}"
                except Exception as error:  # a template raising is an expected outcome, recorded as such
                    record["error"] = f"{type(error).__name__}: {error}"
                if "error" in record:
                    num_errors += 1
                    print(f"  {name} #{index} ({record['name']}): error: {record['error']}", flush=True)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            print(f"{name}: rendered {len(conversations)} conversations", flush=True)
    total = len(templates) * len(conversations)
    print(f"wrote {out_path}: {total} renders, {num_errors} expected errors", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
