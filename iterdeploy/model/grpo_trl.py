"""The same GRPO baseline through TRL's `GRPOTrainer` (grpo.trainer: trl; trl is the optional `rl` extra).

TRL samples with transformers' `generate` (or vLLM on a GPU: `use_vllm`), scores every completion with the
reward functions, turns the rewards into group-relative advantages and takes the optimizer step; the
configuration is set so that its update is the one iterdeploy.model.grpo takes: `num_generations` =
group_size, a step of prompts_per_step x group_size completions generated and trained on once
(`steps_per_generation` 1, `num_iterations` 1: the PPO ratio is 1), beta 0 (no reference model), the
token-mean loss (`loss_type` dapo), rewards scaled by the group's standard deviation or not
(`scale_rewards`), the deployment sampler's temperature, top-p, max new tokens and stop tokens.

`make_trainer` builds the trainer; `StepRecorder` is the callback through which the pipeline
(iterdeploy.pipeline.grpo) records each step and writes and evaluates its checkpoints.
"""

from __future__ import annotations

import time
from typing import Callable

from iterdeploy.model.grpo import GRPOConfig
from iterdeploy.model.sampling_config import SamplingConfig
from iterdeploy.model.tokenizer import stop_token_ids


def _trainer_callback_base():
    from transformers import TrainerCallback

    return TrainerCallback


class StepRecorder(_trainer_callback_base()):
    """Times every step (generation, rewards and update; what `on_checkpoint` does is left out), hands TRL's
    logged numbers for the step to `on_step(step, seconds, logs)` and calls `on_checkpoint(step)` after the
    steps in `checkpoints`."""

    def __init__(self, checkpoints: set[int], on_step: Callable[[int, float, dict], None],
                 on_checkpoint: Callable[[int], None]):
        self.checkpoints, self.on_step, self.on_checkpoint = checkpoints, on_step, on_checkpoint
        self._t0, self._seconds = 0.0, 0.0

    def on_step_begin(self, args, state, control, **kw):
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self._seconds = time.perf_counter() - self._t0

    def on_log(self, args, state, control, logs=None, **kw):
        # logging_steps is 1: one log per step, right after on_step_end
        if logs and "reward" in logs:
            self.on_step(state.global_step, self._seconds, dict(logs))
            if state.global_step in self.checkpoints:
                self.on_checkpoint(state.global_step)


def make_trainer(model, tokenizer, prompts: list[tuple[str, str]], reward: Callable[[str, str], float],
                 sampling: SamplingConfig, cfg: GRPOConfig, steps: int, out_dir: str, callbacks: list):
    """A `GRPOTrainer` on (task_id, prompt) rows, taken in order, prompts_per_step of them a step, with
    `reward(task_id, completion)` as its one reward function, for `steps` steps, on the model's device."""
    from datasets import Dataset
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer

    bos = tokenizer.bos_token or ""
    # TRL tokenizes plain-text prompts with the tokenizer's own special tokens; the embedded tokenizer adds no
    # bos, which iterdeploy's sampler puts in front (tokenizer.encode_prompt), so the text carries it
    rows = [{"prompt": p if not bos or p.startswith(bos) else f"{bos} {p}", "task_id": t} for t, p in prompts]
    dataset = Dataset.from_list(rows)

    def validator(prompts, completions, task_id, **kw) -> list[float]:
        return [float(reward(t, c)) for t, c in zip(task_id, completions)]

    device = next(model.parameters()).device
    args = TRLConfig(
        output_dir=out_dir, max_steps=steps, per_device_train_batch_size=cfg.prompts_per_step * cfg.group_size,
        gradient_accumulation_steps=1, steps_per_generation=1, num_iterations=1, num_generations=cfg.group_size,
        max_completion_length=sampling.max_new_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
        top_k=0, generation_kwargs={"eos_token_id": stop_token_ids(tokenizer, model.generation_config)},
        learning_rate=cfg.lr, lr_scheduler_type="constant_with_warmup", warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm if cfg.max_grad_norm > 0 else 1e9,
        beta=0.0, loss_type="dapo", scale_rewards=cfg.scale_rewards, seed=cfg.seed, data_seed=cfg.seed,
        shuffle_dataset=False,  # the rows come in the order to train on (the pipeline's seeded schedule)
        logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
        use_cpu=device.type == "cpu", bf16=False, fp16=False, dataloader_num_workers=0)
    trainer = GRPOTrainer(model=model, reward_funcs=[validator], args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=callbacks)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the pipeline logs each step itself
    return trainer
