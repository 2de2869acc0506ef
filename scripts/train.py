#!/usr/bin/env python3
"""Train a llama2.c-architecture model on a corpus from `monorail corpus`, export a v0 checkpoint.

The model code is this file's own and follows llama2.c's run.c step for step (RMSNorm with
eps 1e-5, RoPE on pairs of each head, grouped-query attention, SwiGLU feed-forward, shared
classifier), so the float reference in Rust gives the same logits up to float rounding; the
exported `reference.json` holds logits of this code for a held-out sequence, and a Rust test
checks them against the checkpoint.

Seeded and with a fixed number of steps, so a run is reproducible; the log goes to stdout (the
calling script keeps it beside the model). Usage: see --help, or scripts/train-model.sh.
"""

import argparse
import json
import math
import struct
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

EPS = 1e-5


def rmsnorm(x, weight):
    # run.c: ss = sum(x^2) / n + 1e-5; x * (1 / sqrt(ss)) * weight
    ss = jnp.mean(x * x, axis=-1, keepdims=True) + EPS
    return x * jax.lax.rsqrt(ss) * weight


def rope_tables(seq_len, head_size):
    # run.c: freq = 1 / 10000^(head_dim / head_size) for each even head_dim; angle = pos * freq
    head_dims = np.arange(0, head_size, 2, dtype=np.float32)
    freq = 1.0 / np.power(np.float32(10000.0), head_dims / np.float32(head_size))
    angles = np.arange(seq_len, dtype=np.float32)[:, None] * freq[None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def rope(x, cos, sin):
    # x: (batch, time, heads, head_size); rotates the pairs (2i, 2i+1) of every head.
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    r0 = x0 * c - x1 * s
    r1 = x0 * s + x1 * c
    return jnp.stack([r0, r1], axis=-1).reshape(x.shape)


def forward(params, tokens, cfg, cos, sin):
    """Logits for every position of tokens (batch, time): (batch, time, vocab)."""
    batch, time_len = tokens.shape
    dim, n_heads, n_kv = cfg["dim"], cfg["n_heads"], cfg["n_kv_heads"]
    head_size = dim // n_heads
    kv_mul = n_heads // n_kv
    x = params["token_embedding"][tokens]  # (batch, time, dim)
    mask = jnp.tril(jnp.ones((time_len, time_len), dtype=bool))
    c, s = cos[:time_len], sin[:time_len]
    for layer in range(cfg["n_layers"]):
        p = {k: v[layer] for k, v in params.items() if k.startswith("l_")}
        xb = rmsnorm(x, p["l_rms_att"])
        q = (xb @ p["l_wq"].T).reshape(batch, time_len, n_heads, head_size)
        k = (xb @ p["l_wk"].T).reshape(batch, time_len, n_kv, head_size)
        v = (xb @ p["l_wv"].T).reshape(batch, time_len, n_kv, head_size)
        q, k = rope(q, c, s), rope(k, c, s)
        k = jnp.repeat(k, kv_mul, axis=2)  # head h reads kv head h / kv_mul
        v = jnp.repeat(v, kv_mul, axis=2)
        att = jnp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(head_size)
        att = jnp.where(mask[None, None], att, -jnp.inf)
        att = jax.nn.softmax(att, axis=-1)
        out = jnp.einsum("bhts,bshd->bthd", att, v).reshape(batch, time_len, dim)
        x = x + out @ p["l_wo"].T
        xb = rmsnorm(x, p["l_rms_ffn"])
        h1 = xb @ p["l_w1"].T
        h3 = xb @ p["l_w3"].T
        x = x + (jax.nn.silu(h1) * h3) @ p["l_w2"].T
    x = rmsnorm(x, params["rms_final"])
    return x @ params["token_embedding"].T


def init_params(cfg, seed):
    dim, hidden, layers = cfg["dim"], cfg["hidden_dim"], cfg["n_layers"]
    kv_dim = dim * cfg["n_kv_heads"] // cfg["n_heads"]
    rng = np.random.default_rng(seed)
    std = 0.02
    residual_std = 0.02 / math.sqrt(2 * layers)  # as llama2.c's model.py for wo and w2

    def normal(shape, s):
        return jnp.asarray(rng.normal(0.0, s, size=shape).astype(np.float32))

    return {
        "token_embedding": normal((cfg["vocab_size"], dim), std),
        "l_rms_att": jnp.ones((layers, dim), jnp.float32),
        "l_wq": normal((layers, dim, dim), std),
        "l_wk": normal((layers, kv_dim, dim), std),
        "l_wv": normal((layers, kv_dim, dim), std),
        "l_wo": normal((layers, dim, dim), residual_std),
        "l_rms_ffn": jnp.ones((layers, dim), jnp.float32),
        "l_w1": normal((layers, hidden, dim), std),
        "l_w2": normal((layers, dim, hidden), residual_std),
        "l_w3": normal((layers, hidden, dim), std),
        "rms_final": jnp.ones((dim,), jnp.float32),
    }


def export_v0(path, params, cfg):
    """llama2.c's legacy (v0) checkpoint: 7 int32, then float32 tensors as run.c reads them."""
    header = [cfg[k] for k in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads",
                               "vocab_size", "seq_len")]
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", *header))
        for name in ("token_embedding", "l_rms_att", "l_wq", "l_wk", "l_wv", "l_wo",
                     "l_rms_ffn", "l_w1", "l_w2", "l_w3", "rms_final"):
            f.write(np.asarray(params[name], dtype="<f4").tobytes())
        cos, sin = rope_tables(cfg["seq_len"], cfg["dim"] // cfg["n_heads"])
        f.write(cos.astype("<f4").tobytes())
        f.write(sin.astype("<f4").tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the model's train.json (model and train)")
    ap.add_argument("--data", required=True, help="folder written by `monorail corpus`")
    ap.add_argument("--out", required=True, help="output folder (model.bin, reference.json)")
    cli = ap.parse_args()
    with open(cli.config) as f:
        config = json.load(f)
    with open(f"{cli.data}/dataset.json") as f:
        dataset = json.load(f)
    cfg = dict(config["model"], vocab_size=dataset["vocab_size"])
    t = config["train"]
    args = argparse.Namespace(
        out=cli.out, seq_len=cfg["seq_len"], steps=t["steps"], batch=t["batch"], lr=t["lr"],
        warmup=t["warmup"], weight_decay=t["weight_decay"], seed=t["seed"],
        eval_every=t["eval_every"], dim=cfg["dim"], heads=cfg["n_heads"])
    train = np.fromfile(f"{cli.data}/train.u16", dtype="<u2").astype(np.int32)
    heldout = np.fromfile(f"{cli.data}/heldout.u16", dtype="<u2").astype(np.int32)
    print(f"config {json.dumps(cfg)}", flush=True)
    print(f"train tokens {len(train)}, held-out tokens {len(heldout)}, jax {jax.__version__}, "
          f"optax {optax.__version__}, devices {jax.devices()}", flush=True)

    cos, sin = rope_tables(args.seq_len, args.dim // args.heads)
    cos, sin = jnp.asarray(cos), jnp.asarray(sin)
    params = init_params(cfg, args.seed)
    n_params = sum(int(np.prod(v.shape)) for v in params.values())
    print(f"parameters {n_params}", flush=True)

    schedule = optax.warmup_cosine_decay_schedule(0.0, args.lr, args.warmup, args.steps,
                                                  end_value=args.lr / 10)
    # Norm weights are not decayed, as in llama2.c's train.py (only tensors of rank >= 2 are).
    decay_mask = {k: v.ndim >= 2 and not k.startswith("l_rms") for k, v in params.items()}
    optimizer = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(schedule, b1=0.9, b2=0.95, weight_decay=args.weight_decay, mask=decay_mask),
    )
    opt_state = optimizer.init(params)

    def loss_fn(p, x, y):
        logits = forward(p, x, cfg, cos, sin)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def train_step(p, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, state = optimizer.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss

    eval_loss = jax.jit(loss_fn)

    data_rng = np.random.default_rng(args.seed + 1)

    def batch_from(tokens, rng, batch):
        starts = rng.integers(0, len(tokens) - args.seq_len - 1, size=batch)
        x = np.stack([tokens[s:s + args.seq_len] for s in starts])
        y = np.stack([tokens[s + 1:s + 1 + args.seq_len] for s in starts])
        return jnp.asarray(x), jnp.asarray(y)

    def heldout_loss():
        rng = np.random.default_rng(12345)  # the same held-out windows at every evaluation
        losses = [float(eval_loss(params, *batch_from(heldout, rng, args.batch)))
                  for _ in range(8)]
        return sum(losses) / len(losses)

    start = time.time()
    for step in range(1, args.steps + 1):
        x, y = batch_from(train, data_rng, args.batch)
        params, opt_state, loss = train_step(params, opt_state, x, y)
        if step % 50 == 0 or step == 1:
            elapsed = time.time() - start
            tokens_per_s = step * args.batch * args.seq_len / max(elapsed, 1e-9)
            print(f"step {step:5d}  loss {float(loss):.4f}  lr {float(schedule(step)):.2e}  "
                  f"{elapsed:7.1f} s  {tokens_per_s:8.0f} tokens/s", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            print(f"step {step:5d}  held-out loss {heldout_loss():.4f}", flush=True)
    print(f"trained {args.steps} steps in {time.time() - start:.1f} s", flush=True)

    export_v0(f"{args.out}/model.bin", params, cfg)
    # Logits of this code for the first held-out story, for the Rust float reference to match.
    first_bos = np.flatnonzero(heldout == 1)
    sequence = heldout[first_bos[0]:first_bos[0] + min(64, args.seq_len)]
    logits = np.asarray(forward(params, jnp.asarray(sequence[None, :]), cfg, cos, sin))[0]
    positions = [0, len(sequence) // 2, len(sequence) - 1]
    reference = {
        "tokens": [int(t) for t in sequence],
        "positions": positions,
        "logits": [[float(v) for v in logits[p]] for p in positions],
    }
    with open(f"{args.out}/reference.json", "w") as f:
        json.dump(reference, f)
    print(f"wrote {args.out}/model.bin and {args.out}/reference.json", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
