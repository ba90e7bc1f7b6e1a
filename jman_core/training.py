"""fit(...): the paper's schedule with callbacks; CPU, CUDA with bf16 autocast, and DDP under torchrun."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .batching import Batch, EncodedDataset, iterate_batches, make_batch, pad_documents, pad_rows  # noqa: F401
from .config import TrainingConfig
from .errors import CheckpointError, ConfigError
from .losses import LabelSemantics, joint_loss
from .metrics import tune_threshold
from .model import TaggingNetwork


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda was asked for but no CUDA GPU is available. Use --device cpu or auto."
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def available_devices() -> list[str]:
    """The devices training can use here: "cpu", plus "cuda" when a CUDA GPU is visible."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def distributed_world() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun with several processes."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return torch.distributed.get_rank(), world_size


def autocast_for(device: torch.device):
    """bf16 mixed precision on CUDA; full precision on the CPU."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class Progress:
    """Sent to `on_progress` after every training step."""

    epoch: int
    step: int
    steps: int
    loss: float
    learning_rate: float
    elapsed_seconds: float


@dataclass
class EpochRecord:
    """One line of the per-epoch log."""

    epoch: int
    train_loss: float
    validation_loss: float
    validation_f1: float
    threshold: float
    learning_rate: float
    seconds: float
    documents_per_second: float
    best: bool = False


@dataclass
class Callbacks:
    """How a caller (command line, app) follows and steers training; fit itself never prints."""

    on_progress: Callable[[Progress], None] | None = None
    on_epoch_end: Callable[[EpochRecord], None] | None = None
    should_stop: Callable[[], bool] | None = None
    on_stage: Callable[[str], None] | None = (
        None  # a step after the epochs, in words (fitting the linear part)
    )


@dataclass
class FitResult:
    best_state: dict[str, torch.Tensor]
    best_epoch: int
    threshold: float
    history: list[EpochRecord] = field(default_factory=list)
    stopped_because: str = "finished"
    training_seconds: float = 0.0


def predict_logits(
    model: nn.Module, dataset: EncodedDataset, batch_size: int, device: torch.device
) -> tuple[np.ndarray, float]:
    """The network's logits (N, L) in dataset order and the mean cross-entropy loss over the documents."""
    model.eval()
    logits, total_loss = [], 0.0
    with torch.inference_mode(), autocast_for(device):
        for batch in iterate_batches(dataset, np.arange(len(dataset)), batch_size, device):
            values = model(*batch.inputs()).logits
            total_loss += float(joint_loss(values, batch.labels)) * len(batch.labels)
            logits.append(values.float().cpu().numpy())
    if not logits:
        return np.zeros((0, dataset.labels.shape[1]), np.float32), 0.0
    return np.concatenate(logits), total_loss / max(len(dataset), 1)


def predict_scores(
    model: nn.Module, dataset: EncodedDataset, batch_size: int, device: torch.device
) -> tuple[np.ndarray, float]:
    """Sigmoid scores (N, L) of the network alone in dataset order and the mean cross-entropy loss."""
    logits, loss = predict_logits(model, dataset, batch_size, device)
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30))), loss


def _make_optimizer(
    model: nn.Module, config: TrainingConfig, semantics: LabelSemantics
) -> torch.optim.Optimizer:
    """Adam with L2 on weight matrices (not biases), as the original l2_lambda penalty, or AdamW with
    decoupled decay of the same matrices (`config.optimizer`); learnable Sim and Sub (dynamic
    semantics) are trained too, without L2."""
    decayed = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    others = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decayed, "weight_decay": config.l2}, {"params": others, "weight_decay": 0.0}]
    if list(semantics.parameters()):
        groups.append({"params": list(semantics.parameters()), "weight_decay": 0.0})
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return optimizer_class(groups, lr=config.learning_rate)


def _shard(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Equal-length shard per process (padded by repetition) so every process runs the same steps."""
    if world_size == 1:
        return indices
    per_process = math.ceil(len(indices) / world_size)
    padded = np.resize(indices, per_process * world_size)
    return padded[rank::world_size]


@dataclass
class _State:
    """What a resume needs: kept on disk after every epoch."""

    epoch: int = 0
    learning_rate: float = 0.0
    previous_validation_loss: float = math.inf
    best_score: float = -math.inf
    best_epoch: int = -1
    threshold: float = 0.5
    best_state: dict | None = None
    history: list[EpochRecord] = field(default_factory=list)


def _save_resume(path: Path, model: nn.Module, optimizer, state: _State, identity: str = "") -> None:
    payload = {
        "identity": identity,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "best_state": state.best_state,
        "scalars": {k: v for k, v in asdict(state).items() if k not in ("best_state", "history")},
        "history": [asdict(record) for record in state.history],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def _load_resume(path: Path, model: nn.Module, optimizer, identity: str = "") -> _State:
    """The training state saved by `_save_resume`, read with torch's weights-only loader (tensors, numbers
    and strings; any other object in the file is refused, never built). A file of another run (other data or
    settings: its identity differs), a truncated or foreign file, is one CheckpointError."""
    fix = f"Delete {path} to start again, or train without --resume."
    if path.is_symlink() or not path.is_file():
        raise CheckpointError(f"The resume file {path} is not a regular file. {fix}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - pickle, zip and torch errors alike mean "not our file"
        raise CheckpointError(
            f"The resume file {path} is truncated or not a JMAN resume file. {fix}"
        ) from None
    if not isinstance(payload, dict) or payload.get("identity", "") != identity:
        raise CheckpointError(f"The resume file {path} is from another run (other data or settings). {fix}")
    try:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        state = _State(**payload["scalars"], best_state=payload["best_state"])
        state.history = [EpochRecord(**record) for record in payload["history"]]
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"The resume file {path} does not fit this model ({type(error).__name__}). {fix}"
        ) from None
    return state


def _train_epoch(model, optimizer, dataset, indices, config, device, epoch, callbacks, semantics, started):
    """One pass over `indices`; returns (mean loss, documents seen, stopped early?)."""
    model.train()
    steps = math.ceil(len(indices) / config.batch_size)
    total, seen = 0.0, 0
    learning_rate = optimizer.param_groups[0]["lr"]
    for step, batch in enumerate(iterate_batches(dataset, indices, config.batch_size, device), start=1):
        if callbacks.should_stop and callbacks.should_stop():
            return total / max(seen, 1), seen, True
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(device):
            logits = model(*batch.inputs()).logits
        similarity, subsumption = semantics.matrices()
        loss = joint_loss(
            logits, batch.labels, similarity, subsumption, config.lambda_sim or 0.0, config.lambda_sub or 0.0
        )
        loss.backward()
        if config.max_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        total += float(loss.detach()) * len(batch.labels)
        seen += len(batch.labels)
        if callbacks.on_progress:
            callbacks.on_progress(
                Progress(epoch, step, steps, total / seen, learning_rate, time.monotonic() - started)
            )
    return total / max(seen, 1), seen, False


def fit(
    model: TaggingNetwork,
    train: EncodedDataset,
    validation: EncodedDataset,
    config: TrainingConfig,
    callbacks: Callbacks | None = None,
    semantics: LabelSemantics | None = None,
    resume_path: str | Path | None = None,
    resume_identity: str = "",
) -> FitResult:
    """Trains `model`, halving the learning rate when validation loss rises and stopping below early_stop_lr.

    The best epoch is chosen by `config.selection_metric` on the validation part; its decision threshold
    is tuned there to maximise example-based F1. Ctrl-C or `should_stop()` ends training with the best
    model so far. With `resume_path`, training state is saved after every epoch and picked up if present,
    when it was saved with the same `resume_identity` (what names the data and settings of the run).
    """
    callbacks = callbacks or Callbacks()
    semantics = semantics or LabelSemantics()
    device = resolve_device(config.device)
    rank, world_size = distributed_world()
    model.to(device)
    semantics.to(device)
    optimizer = _make_optimizer(model, config, semantics)
    state = _State(learning_rate=config.learning_rate)
    resume_file = Path(resume_path) if resume_path else None
    if resume_file and resume_file.exists():
        state = _load_resume(resume_file, model, optimizer, resume_identity)
    wrapped = nn.parallel.DistributedDataParallel(model) if world_size > 1 else model
    started = time.monotonic() - sum(record.seconds for record in state.history)
    stopped_because = f"reached the maximum of {config.num_epochs} epochs"
    try:
        while state.epoch < config.num_epochs:
            stopped_because = _run_epoch(
                wrapped,
                model,
                optimizer,
                train,
                validation,
                config,
                device,
                rank,
                world_size,
                callbacks,
                semantics,
                state,
                started,
            )
            if rank == 0 and resume_file:
                _save_resume(resume_file, model, optimizer, state, resume_identity)
            if stopped_because:
                break
            stopped_because = f"reached the maximum of {config.num_epochs} epochs"
    except KeyboardInterrupt:
        stopped_because = "interrupted (Ctrl-C): kept the best model so far"
    best_state = state.best_state if state.best_state is not None else _cpu_state(model)
    return FitResult(
        best_state,
        state.best_epoch,
        state.threshold,
        state.history,
        stopped_because,
        time.monotonic() - started,
    )


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}


def _run_epoch(
    wrapped,
    model,
    optimizer,
    train,
    validation,
    config,
    device,
    rank,
    world_size,
    callbacks,
    semantics,
    state,
    started,
) -> str:
    """Trains and validates one epoch, updates `state`; returns why to stop, or '' to go on."""
    epoch_started = time.monotonic()
    torch.manual_seed(config.seed + state.epoch)
    order = np.random.default_rng(config.seed + state.epoch).permutation(len(train))
    indices = _shard(order, rank, world_size)
    train_loss, seen, interrupted = _train_epoch(
        wrapped, optimizer, train, indices, config, device, state.epoch + 1, callbacks, semantics, started
    )
    if interrupted and state.best_state is not None:
        return "stopped on request: kept the best model so far"
    scores, validation_loss = predict_scores(model, validation, config.batch_size, device)
    threshold, validation_f1 = tune_threshold(validation.labels, scores)
    score = validation_f1 if config.selection_metric == "f1" else -validation_loss
    is_best = score > state.best_score
    if is_best:
        state.best_score, state.best_epoch, state.threshold = score, state.epoch + 1, float(threshold)
        state.best_state = _cpu_state(model)
    seconds = time.monotonic() - epoch_started
    record = EpochRecord(
        state.epoch + 1,
        train_loss,
        validation_loss,
        float(validation_f1),
        float(threshold),
        state.learning_rate,
        seconds,
        seen * world_size / max(seconds, 1e-9),
        is_best,
    )
    state.history.append(record)
    state.epoch += 1
    if validation_loss > state.previous_validation_loss:
        state.learning_rate *= config.lr_decay
        for group in optimizer.param_groups:
            group["lr"] = state.learning_rate
    state.previous_validation_loss = validation_loss
    if callbacks.on_epoch_end:
        callbacks.on_epoch_end(record)
    if interrupted:
        return "stopped on request: kept the best model so far"
    if state.learning_rate < config.early_stop_lr:
        return f"early stop: learning rate {state.learning_rate:.2g} fell below {config.early_stop_lr:g}"
    return ""
