"""Freshness benchmark: edit one block of a 200-block Feishu doc (through the emulator) and time how long
until the new text is answerable; count the chunks re-embedded per edit.

The bot runs in this process (app factory, workers, embedded Redis, Milvus Lite in a temp dir) against the
bundled emulator; the edit reaches it as a signed, encrypted `drive.file.edit_v1` like Feishu's.
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time

from _harness import percentile
from aiohttp import web

from bot.app import SERVICES, create_app
from bot.emulator import Emulator, EmulatorConfig
from config.settings import EmulatorDefaults, Settings
from observability.logging import configure_logging
from observability.metrics import KNOWLEDGE_CHUNKS_EMBEDDED

TOPICS = ["退货", "换货", "发票", "物流", "会员", "积分", "优惠券", "保修", "支付", "账号"]


def doc_blocks(n: int) -> list[dict]:
    blocks: list[dict] = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        if i % 20 == 0:
            blocks.append({"type": "heading2", "text": f"第{i // 20 + 1}章 {topic}规则"})
        else:
            text = (f"{topic}条款{i}：客户在收到商品后{i % 15 + 1}天内可以申请{topic}服务，"
                    f"需提供订单号和凭证，客服将在{i % 3 + 1}个工作日内处理。")
            blocks.append({"type": "text", "text": text})
    return blocks


def embedded_total() -> float:
    return sum(sample.value for metric in KNOWLEDGE_CHUNKS_EMBEDDED.collect() for sample in metric.samples
               if sample.name.endswith("_total"))


async def main_async(args: argparse.Namespace) -> dict:
    configure_logging(os.environ.get("LOG_LEVEL", "WARNING"), "console")
    emulator = Emulator(EmulatorConfig())
    url = await emulator.start()
    data_dir = tempfile.mkdtemp(prefix="larkdesk-fresh-")
    settings = Settings(feishu_app_id=EmulatorDefaults.app_id, feishu_app_secret=EmulatorDefaults.app_secret,
                        feishu_verification_token=EmulatorDefaults.verification_token,
                        feishu_encrypt_key=EmulatorDefaults.encrypt_key, feishu_domain=url,
                        feishu_bot_open_id=EmulatorDefaults.bot_open_id, data_dir=data_dir, sample_kb=False,
                        sync_debounce_s=args.debounce)
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    emulator.set_delivery(event_callback_url=f"http://127.0.0.1:{port}/feishu/events")
    services = runner.app[SERVICES]
    try:
        doc = emulator.create_doc("售后服务手册", doc_blocks(args.blocks))
        started = time.perf_counter()
        await services.docsync.subscribe(doc["document_id"])
        initial_s = time.perf_counter() - started
        text_blocks = [b["block_id"] for b in doc["blocks"] if b["block_type"] == 2]
        latencies, reembedded = [], []
        for i in range(args.edits):
            block_id = text_blocks[(i * 7) % len(text_blocks)]
            marker = f"特别提示{i}号：以旧换新补贴{100 + i}元限时发放"
            before = embedded_total()
            t0 = time.perf_counter()
            await emulator.edit_doc(doc["document_id"], [{"op": "update_text", "block_id": block_id, "text": marker}])
            while True:
                # Earlier edits left near-identical markers in other blocks: look for this one in the top 3.
                result = await services.knowledge.retriever.search(marker, top_k=3)
                if any(marker in c.hit.text for c in result.candidates):
                    break
                if time.perf_counter() - t0 > 30:
                    raise TimeoutError(f"edit {i} never became answerable")
                await asyncio.sleep(0.1)
            latencies.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(args.debounce + 0.2)  # let the sync finish counting before the next edit
            reembedded.append(embedded_total() - before)
        return {
            "blocks": args.blocks,
            "edits": args.edits,
            "initial_sync_s": round(initial_s, 2),
            "edit_to_answerable_p50_ms": round(percentile(latencies, 50), 1),
            "edit_to_answerable_p95_ms": round(percentile(latencies, 95), 1),
            "edit_to_answerable_max_ms": round(max(latencies), 1),
            "chunks_reembedded_per_edit_max": int(max(reembedded)),
            "chunks_reembedded_per_edit_mean": round(sum(reembedded) / len(reembedded), 2),
            "debounce_s": args.debounce,
        }
    finally:
        await runner.cleanup()
        await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--debounce", type=float, default=0.5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), ensure_ascii=False))


if __name__ == "__main__":
    main()
