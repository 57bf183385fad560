"""A knock: the host asks "are you all right?" by pulsing the lamp; a toggle answers.

Times are uptime seconds (Clock.s), which never wrap. A toggle while the knock runs, or within
answer_grace_s after it ran out, is the answer and carries the command id once.
"""


class Knock:
    def __init__(self, answer_grace_s=60):
        self.grace = answer_grace_s
        self.id = None  # running knock's command id
        self.until = 0
        self.ended_id = None  # knock that ran out unanswered, still answerable
        self.ended_at = 0

    @property
    def running(self):
        return self.id is not None

    def start(self, cmd_id, dur_s, now_s):
        self.id = cmd_id
        self.until = now_s + dur_s
        self.ended_id = None

    def stop(self):
        """Cancelled by the host: nothing left to answer."""
        self.id = None
        self.ended_id = None

    def expired(self, now_s):
        """True once, when a running knock reaches its duration unanswered."""
        if self.id is None or now_s < self.until:
            return False
        self.ended_id, self.ended_at = self.id, now_s
        self.id = None
        return True

    def answer(self, now_s):
        """The command id a toggle now answers, or None."""
        cid = self.id
        if cid is None and self.ended_id is not None and now_s - self.ended_at <= self.grace:
            cid = self.ended_id
        self.id = None
        self.ended_id = None
        return cid
