"""Judge clients a test builds, every one closed when the test ends (its HTTP session on the
test's event loop, its background loop thread)."""

from __future__ import annotations

from wethink_verl.judge import build_judge


class Judges:
    def __init__(self):
        self.made = []

    def build(self, cfg: dict):
        judge = build_judge(cfg)
        self.made.append(judge)
        return judge

    async def aclose(self) -> None:
        for judge in self.made:
            await judge.aclose()
            judge.close()
