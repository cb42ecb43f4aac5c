"""/v1/chat/completions through a Flask test client: messages, a request, what came back."""


def user(content):
    return {"role": "user", "content": content}


def assistant(content):
    return {"role": "assistant", "content": content}


def chat(client, messages, headers=None, **body):
    """POST a chat completion; a string is a one-message conversation."""
    messages = [user(messages)] if isinstance(messages, str) else messages
    return client.post("/v1/chat/completions", json={"model": "claude-code",
                                                     "messages": messages, **body},
                       headers=headers or {})


def session_of(response) -> str:
    return response.headers["X-Session-Id"]


def answer_of(response) -> dict:
    return assistant(response.get_json()["choices"][0]["message"]["content"])
