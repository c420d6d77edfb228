"""The ``hf`` backend end to end on a tiny LLaVA built from configs (random weights, no download).

The checkpoint is saved to a local folder and loaded back by path, through the same
``AutoProcessor`` / ``AutoModelForImageTextToText`` calls a hub id goes through.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from ps3_eval import evaluate, load_run

if not os.environ.get("CI"):
    pytest.importorskip("torch", reason="needs the hf extra (torch, transformers)")
    pytest.importorskip("transformers", reason="needs the hf extra (torch, transformers)")

IMAGE = 56  # the tiny vision tower's input side


def _tiny_llava(folder: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    specials = ["<pad>", "<s>", "</s>", "<image>"]
    vocab = {t: i for i, t in enumerate(specials + [chr(c) for c in range(32, 127)] + ["\n"])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")  # one token per character
    tok.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        additional_special_tokens=["<image>"],
    )  # fmt: skip
    template = (
        "{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}"
        "{% endfor %}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE}
        ),
        tokenizer=tokenizer,
        chat_template=template,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            image_size=IMAGE, patch_size=14,
        ),
        text_config=LlamaConfig(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        ),
        image_token_index=vocab["<image>"],
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )  # fmt: skip
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


def _run(checkpoint: Path, out: Path, **args: Any) -> Any:
    return evaluate(
        "probe4k",
        "hf",
        model_args={"model": str(checkpoint), "dtype": "float32", **args},
        task_args={"n": 6},
        output_dir=out,
        max_tokens=6,
    )


def test_batches_answer_as_single_requests(checkpoint: Path, tmp_path: Path) -> None:
    one = _run(checkpoint, tmp_path / "one", batch_size=1, max_pixels=640 * 360)
    four = _run(checkpoint, tmp_path / "four", batch_size=4, max_pixels=640 * 360)
    # batch_size only changes how calls are made: the same run, the same folder name
    assert one.run_id == four.run_id
    # the summary keeps the stage split (Table 9's ViT and LLM latency); no GPU, no peak memory
    assert (
        0
        < one.stage_means["vision_encoder"]
        < one.stage_means["llm"] + one.stage_means["vision_encoder"]
    )
    assert one.peak_memory_mb is None
    a = {r.sample_id: r for r in load_run(tmp_path / "one" / one.run_id).results}
    b = {r.sample_id: r for r in load_run(tmp_path / "four" / four.run_id).results}
    assert set(a) == set(b) and len(a) == 6
    assert [r.output.timing.batch_size for r in a.values()] == [1] * 6
    # batches fill with what is decoded in time; never more than batch_size
    sizes = [r.output.timing.batch_size or 0 for r in b.values()]
    assert max(sizes) > 1 and max(sizes) <= 4
    # a batch's wall time is recorded once per batch; each request's latency is its share
    for r in b.values():
        t = r.output.timing
        assert t.batch_latency is not None and t.batch_size is not None
        assert t.latency == pytest.approx(t.batch_latency / t.batch_size)
        mates = [x for x in b.values() if x.output.timing.batch_latency == t.batch_latency]
        assert len(mates) == t.batch_size
    assert one.batched_calls == 0 and one.mean_batch_size == 1
    assert four.batched_calls == sum(s > 1 for s in sizes) > 0
    assert four.mean_batch_size == pytest.approx(sum(sizes) / 6)
    for sid, r in a.items():
        assert r.error is None and b[sid].error is None
        assert r.prediction == b[sid].prediction  # left padding leaves greedy answers alone
        assert r.output.usage == b[sid].output.usage
        # LLaVA-1.5: one token per 14x14 patch of the 56x56 crop
        assert r.output.usage.visual_tokens == (IMAGE // 14) ** 2
        assert r.output.usage.input_tokens > r.output.usage.visual_tokens
        assert 0 < r.output.usage.output_tokens <= 6
        assert r.output.timing.vision_encoder is not None and r.output.timing.vision_encoder > 0
        assert r.output.image_sizes == [(640, 360)]  # 3840x2160 capped at 640*360 pixels


def test_without_max_pixels_the_processor_decides(checkpoint: Path, tmp_path: Path) -> None:
    from transformers import AutoProcessor

    from ps3_eval.models import build_model

    model = build_model("hf", {"model": str(checkpoint)})
    fresh = AutoProcessor.from_pretrained(checkpoint).image_processor
    assert model.processor.image_processor.to_dict() == fresh.to_dict()
    run = _run(checkpoint, tmp_path, batch_size=1)
    (first, *_) = load_run(tmp_path / run.run_id).results
    assert first.output.image_sizes == [(3840, 2160)]  # the frame as it is, to the processor


def test_the_gpu_checks_qwen2_vl_token_rule_is_its_processors() -> None:
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    from perf.gpu_check import qwen2_vl_tokens

    for w, h in ((3840, 2160), (2666, 1500), (1000, 700), (30, 28 * 150)):
        for cap in (12_845_056, 4_000_000, 1_000_000):
            rh, rw = smart_resize(h, w, factor=28, min_pixels=56 * 56, max_pixels=cap)
            assert qwen2_vl_tokens(w, h, cap) == (rh // 28) * (rw // 28), (w, h, cap)
    # Table 1's Qwen2-VL row: a 4K frame is 10,549 tokens at the processor's default; the cap
    # this project once put on it (4,000,000 pixels) halves that
    assert qwen2_vl_tokens(3840, 2160) == 10549 and qwen2_vl_tokens(3840, 2160, 4_000_000) == 5035


def test_a_failing_request_fails_alone(checkpoint: Path) -> None:
    from PIL import Image

    from ps3_eval.models import build_model
    from ps3_eval.records import ImagePart, Message, Request, TextPart

    model = build_model("hf", {"model": str(checkpoint), "batch_size": 3})

    def request(i: int, image: Any) -> Request:
        part = ImagePart(image=image, width=100, height=80, digest=f"d{i}")
        return Request(
            sample_id=str(i), messages=[Message(content=[part, TextPart(text=f"question {i}")])]
        )

    good = Image.new("RGB", (100, 80), (9, 9, 9))

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(
                *(model.generate(request(i, good if i != 1 else "not an image")) for i in range(3)),
                return_exceptions=True,
            )
        finally:
            await model.aclose()

    results = asyncio.run(go())
    assert isinstance(results[1], Exception)
    assert [r.timing.batch_size for r in (results[0], results[2])] == [1, 1]  # retried alone


def test_missing_checkpoint_is_one_clear_line(tmp_path: Path) -> None:
    from tests.test_cli import cli

    res = cli("run", "-t", "probe4k", "--task-arg", "n=2", "-m", f"hf:model={tmp_path / 'none'}",
              "--output-dir", str(tmp_path / "runs"), check=False)  # fmt: skip
    assert res.returncode == 2
    assert "cannot load" in res.stderr and "local folder" in res.stderr
    assert len([x for x in res.stderr.splitlines() if x.strip()]) == 1
