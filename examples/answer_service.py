"""A small answer service, written the way a team shipping on Bedrock would write it.

It asks a model through Converse and degrades gracefully: when Bedrock still refuses after the
SDK's own retries (throttling, capacity), it serves the last good answer for the question, and
it caps what one call may cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
# Codes that, once the SDK has given up retrying, the service answers from its cache.
FALL_BACK_ON = {"ThrottlingException", "ServiceUnavailableException", "ModelNotReadyException"}


@dataclass
class Answer:
    text: str
    source: str  # "model" or "cache"
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class AnswerService:
    client: Any  # a boto3 bedrock-runtime client
    max_output_tokens: int = 256
    cache: dict[str, str] = field(default_factory=dict)

    def answer(self, question: str) -> Answer:
        try:
            response = self.client.converse(
                modelId=MODEL,
                messages=[{"role": "user", "content": [{"text": question}]}],
                inferenceConfig={"maxTokens": self.max_output_tokens, "temperature": 0.2},
            )
        except ClientError as error:
            cached = self.cache.get(question)
            if error.response["Error"]["Code"] in FALL_BACK_ON and cached is not None:
                return Answer(cached, "cache")
            raise
        text = response["output"]["message"]["content"][0]["text"]
        self.cache[question] = text
        usage = response["usage"]
        return Answer(text, "model", usage["inputTokens"], usage["outputTokens"])
