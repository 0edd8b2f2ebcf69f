"""What a session can do with a run that has ended: rebuild it here from its saved state, download
its weights and best checkpoint, restore the best weights, or retry it at a lower learning rate from
the weights it ended with. Part of the Runner (serve/runner.py), kept in a file of its own.
"""

from __future__ import annotations

from playground import checkpoints, export
from playground.engine import Trainer, build
from playground.serve.run_task import RunTask
from playground.serve.worker import Controls, pack, unpack

RELEASED = ("This run's weights were freed to make room for other runs on this server; its curve "
            "and picture stay. Press ▶ Start to train again.")
RETRY_FACTOR = 0.1  # a diverged run is retried at a tenth of its learning rate


class EndedRun:
    """The Runner's methods for a run that has ended (they use the Runner's lock and fields)."""

    def _trainer_here(self) -> Trainer | None:
        """The ended run rebuilt in this process from its saved state (downloads, best weights)."""
        with self._cond:
            if self.alive or self._released or self._cfg is None:
                return None
            if self._local is None and self._saved is not None:
                trainer = Trainer(self._cfg, build(self._cfg, self._target_in))
                trainer.load_state_dict(unpack(self._saved))
                self._local = trainer
            return self._local

    def checkpoint(self) -> bytes | None:
        """The weights as a safe checkpoint; None while the run is going."""
        trainer = self._trainer_here()
        return export.checkpoint_bytes(trainer) if trainer is not None else None

    def best_checkpoint(self) -> bytes | None:
        """best.pt: the best weights and what made them best; None while running or if none."""
        trainer = self._trainer_here()
        best = checkpoints.best_checkpoint(trainer) if trainer is not None else None
        return pack(best) if best is not None else None

    def restore_best(self) -> bool:
        """Load the best checkpoint into a finished run's model and show it (False if none)."""
        with self._cond:
            if self._released:
                self._message = RELEASED
        trainer = self._trainer_here()
        if trainer is None or not trainer.restore_best():
            return False
        image, view = trainer.image(), trainer.view()
        with self._cond:
            self._view = view
            if image is not None:
                self._image = image
            at = trainer.rules.best_step
            where = (f" of epoch {trainer.best_epoch}" if trainer.best_epoch
                     else f" of step {at}" if at else "")
            self._message = f"Restored the best checkpoint{where} (loss {trainer.best_loss:.4g})."
            self._saved = pack(trainer.state_dict()) if trainer.at_epoch_end else self._saved
        return True

    def retry(self, factor: float = RETRY_FACTOR) -> bool:
        """Carry an ended run on from the weights it ended with (after a divergence, the last good
        ones the rules restored) at `factor` x its learning rate: the rules watch it afresh, the
        history and the step count go on. False if there is no such run here."""
        trainer = self._trainer_here()
        if trainer is None:
            return False
        trainer.rules.reopen()
        trainer.set_lr(trainer.base_lr * factor)
        state = pack(trainer.state_dict())
        with self._cond:
            if self.alive:
                return False
            self._run_id += 1  # a run of its own in the session's list once it ends
            self._task, self._saved, self._local = RunTask(self), state, None
            self._events, self._base_lr, self._lr_asked = list(trainer.events), trainer.base_lr, None
            self._view = {k: v for k, v in self._view.items() if k != "autopsy"}
            self._ctl, self._deadline = Controls(pace=self._cfg.pace), None
            self._state, self._message = "queued", ""
            task = self._task
        self.pool.submit(task)
        return True

    def restart(self) -> bool:
        """Start the ended run's setup again from step 0 (the same seed: the same first weights)."""
        with self._cond:
            cfg, target = self._cfg, self._target_in
        return cfg is not None and self.start(cfg, target)
