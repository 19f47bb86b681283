"""Reproducible demo data: a fictional brand "Acme" being talked about online.

`demo_records(n, seed=, now=)` yields interchange records (the JSONL shape of
`inboxtui.interchange`), so seeding is simply `ingest(map(parse_record, ...))`
and the same generator feeds the benchmarks. Same n, seed and now give
byte-identical output; with `now=None` the data ends at the current time.

What it models, so that every feature has something to work on:
- seven sources of seven kinds (Mastodon, Bluesky, Reddit, Hacker News,
  GitHub, RSS, Discourse), each with its own id, URL and handle shapes;
- English, Traditional and Simplified Chinese in roughly 60/20/20 shares
  (Hacker News and GitHub lean English), with the vocabulary support teams
  search for (退款 詐騙 投訴 退貨 垃圾 客服 營銷 / 退款 诈骗 投诉 退货 客服 营销);
- intents: complaints, praise, questions, sarcasm, news, feature requests,
  spam/scam; about a third of mentions are replies within the same source;
- authors with power-law reach (most under 500 followers, a few over 100k);
- 14 days of traffic with a daily rhythm (an Americas/Europe peak and an Asia
  peak) and quieter weekends;
- a negative spike: in the last ~6 hours, about 4% of all mentions pile onto
  "Acme X2 battery" overheating, started by one influential reviewer;
- ~1% hostile text (Rich markup, ANSI/OSC escapes, bidi overrides) so that the
  demo exercises sanitising.

`sentiment` / `sentiment_label` are the generator's own intent, not a model's
guess: complaint, sarcasm and spike templates are negative, praise and thanks
positive, questions, news, help and spam neutral; the score is the intent's
base value plus small noise, and the label follows the score (<= -0.25
negative, >= 0.25 positive). Text comes from templates x vocabulary, so a
million records are cheap.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel

from inboxtui.db import Database
from inboxtui.ingest import IngestStats, ingest, parse_record
from inboxtui.timeutil import utcnow

DAYS = 14
SPIKE_HOURS = 6
SPIKE_SHARE = 0.04
HOSTILE_SHARE = 0.012
LANGS = ("en", "zh-Hant", "zh-Hans")


@dataclass(frozen=True)
class _SourceSpec:
    name: str
    kind: str
    share: float
    reply_share: float
    langs: tuple[float, float, float]  # en, zh-Hant, zh-Hans
    intents: str  # key of _INTENT_WEIGHTS


_SOCIAL_LANGS = (0.54, 0.23, 0.23)
SOURCES = (
    _SourceSpec("acme-mastodon", "mastodon", 0.22, 0.30, _SOCIAL_LANGS, "social"),
    _SourceSpec("acme-bluesky", "bluesky", 0.20, 0.30, _SOCIAL_LANGS, "social"),
    _SourceSpec("r/acme", "reddit", 0.18, 0.55, _SOCIAL_LANGS, "social"),
    _SourceSpec("hn-acme", "hackernews", 0.08, 0.55, (0.95, 0.025, 0.025), "hn"),
    _SourceSpec("github-acme/app", "github", 0.10, 0.45, (0.80, 0.10, 0.10), "github"),
    _SourceSpec("news-alerts", "rss", 0.10, 0.0, _SOCIAL_LANGS, "news"),
    _SourceSpec("forum.acme", "discourse", 0.12, 0.45, _SOCIAL_LANGS, "social"),
)

# intent -> (base sentiment, noise)
_SENTIMENT = {
    "complaint": (-0.7, 0.2),
    "sarcasm": (-0.55, 0.15),
    "praise": (0.75, 0.2),
    "question": (0.0, 0.15),
    "news": (0.0, 0.1),
    "feature": (0.1, 0.15),
    "spam": (0.0, 0.05),
    "spike": (-0.8, 0.15),
    "agree": (-0.5, 0.2),
    "help": (0.1, 0.1),
    "thanks": (0.7, 0.2),
    "ask": (0.0, 0.1),
    "brand": (0.2, 0.05),
}
# Weighted so that the negative share (negative / (negative + positive)) runs at
# about a third before the spike, as for a brand people mostly like, and the
# spike is what pushes it over the reports' 20% target line by a wide margin.
_INTENT_WEIGHTS = {
    "social": {
        "complaint": 12,
        "praise": 35,
        "question": 22,
        "sarcasm": 4,
        "news": 5,
        "feature": 14,
        "spam": 8,
    },
    "hn": {"complaint": 15, "praise": 20, "question": 15, "sarcasm": 8, "news": 37, "feature": 5},
    "github": {"complaint": 35, "question": 25, "feature": 40},
    "news": {"news": 70, "complaint": 10, "praise": 20},
}
_REPLY_WEIGHTS = {"agree": 16, "help": 28, "ask": 20, "thanks": 24, "brand": 12}

# ---------------------------------------------------------------- vocabulary

_EN: dict[str, Any] = {
    "products": [
        "Acme X2",
        "Acme X2 Pro",
        "Acme Buds",
        "Acme Watch S",
        "Acme Home Hub",
        "Acme app",
    ],
    "issues": [
        ("the battery is dead after a few hours", "battery drain"),
        ("it won't pair over Bluetooth", "Bluetooth pairing fails"),
        ("the last update bricked it", "bricked after update"),
        ("my order has been stuck in shipping for ages", "stuck in shipping"),
        ("I was charged twice", "double charged"),
        ("the refund never arrived", "refund missing"),
        ("the screen keeps flickering", "screen flicker"),
        ("login keeps failing", "login failure"),
        ("support closed my ticket without answering", "ticket closed unanswered"),
        ("the app crashes on startup", "app crash on startup"),
    ],
    "issues_past": [
        "drained my battery overnight",
        "broke Bluetooth",
        "logged me out of everything",
        "made the app crash",
        "reset all my settings",
    ],
    "features": [
        "dark mode",
        "offline maps",
        "sleep tracking",
        "custom shortcuts",
        "multi-account login",
        "USB-C audio",
    ],
    "howto": [
        "reset my password",
        "update the firmware",
        "turn off auto-updates",
        "export my data",
        "pair a second phone",
    ],
    "compat": ["Android 15", "iOS 19", "Linux", "Home Assistant", "Windows 11"],
    "cities": ["Austin", "Dublin", "Taipei", "Singapore", "Lisbon"],
    "complaint": [
        "{Issue}. Really disappointed in my {p}, Acme.",
        "Day {d} and {issue}. Worst customer service I've had in years.",
        "Hey @Acme, {issue}. I want a refund, not another canned reply.",
        "{Issue}. Filing a complaint with consumer protection if this isn't fixed. #Acme",
        "Does anyone at Acme actually read these? {Issue}. Order {order}.",
        "Returned my {p} because {issue}. Still no refund after {d} days.",
        "Paid full price for the {p} and {issue}. Never again.",
        "Spent 40 minutes on hold with Acme support.\n{Issue}.\nNobody can help.",
        "Heads up: fake 'Acme Support' accounts are DMing people for card details. "
        "It's a scam, report them.",
        "Acme keeps sending me marketing spam after I unsubscribed. Stop it.",
    ],
    "praise": [
        "Honestly the {p} is great. Battery lasts all day and setup took two minutes.",
        "Shout-out to Acme support: they replaced my {p} in {d} days, no questions asked. 🙌",
        "Loving the new {p} update, {feat} finally works the way it should!",
        "Three months with the {p} and zero complaints. Would buy again.",
        "Acme customer service was super helpful today, refund processed in a day. Thanks! ❤️",
        "The {p} just keeps getting better. Great job, Acme team 👏",
    ],
    "question": [
        "How do I {howto} on the {p}? Can't find it in the settings.",
        "Is there a way to {howto} with the {p}? Asking before I buy.",
        "Anyone know if the {p} works with {compat}?",
        "@Acme what's the return policy for the {p} if I bought it {d} days ago?",
        "Where do I check the status of order {order}? The tracking page is blank.",
        "Does the {p} support {feat}? The website doesn't say.",
    ],
    "sarcasm": [
        "Love how my {p} needs a reboot every morning. Great engineering, Acme 🙃",
        "Wow, {d} days to answer an email. Acme support is truly lightning fast. 👏👏",
        "Oh great, another update that {past}. Thanks so much, Acme.",
        "Nothing says premium like a {p} that {past}. Stellar work.",
    ],
    "news": [
        (
            "Acme announces {p} update with {feat}",
            "Acme said the update rolls out this week to all {p} owners, adding {feat} "
            "and bug fixes.",
        ),
        (
            "Acme reports quarterly results; {p} sales up {pct}%",
            "Acme reported revenue above expectations, driven by {p} sales, up {pct}% "
            "year over year.",
        ),
        (
            "Review: the {p} is good, with caveats",
            "Our review finds the {p} solid overall, though {issue} in some of our tests.",
        ),
        (
            "Acme opens a new support center in {city}",
            "The {city} center will handle {p} repairs and refunds for the region.",
        ),
        (
            "Consumer group collects complaints about Acme refunds",
            "A consumer group says it has received dozens of complaints that {issue}.",
        ),
    ],
    "feature": [
        "Would love to see {feat} on the {p}. Any plans, @Acme?",
        "Feature request: please add {feat} to the {p}. It's the only thing missing.",
        "+1 for {feat}. My {p} would be perfect with it.",
    ],
    "spam": [
        "🎁 Acme giveaway! Claim your free {p} at acme-prizes.example, only 100 left!!!",
        "Earn $500/day reselling {p} units, DM me 💰💰",
        "Get 90% off the {p} today only → acme-deals.example/{n}",
    ],
    "titles": {
        "complaint": ["{p}: {short}", "{short} on my {p}", "Anyone else? {short}"],
        "praise": ["{p} appreciation post", "Good experience with Acme support"],
        "question": ["How to {howto} on {p}?", "Question about the {p}"],
        "sarcasm": ["The {p}, a premium experience"],
        "feature": ["Feature request: {feat}", "{feat} for the {p}?"],
        "spam": ["FREE {p} GIVEAWAY"],
    },
    "github_titles": {
        "complaint": ["[Bug] {p}: {short}", "{short} since the latest release"],
        "question": ["[Question] how to {howto}?"],
        "feature": ["[Feature] {feat}"],
    },
    "replies": {
        "agree": [
            "Same here. {Issue}.",
            "+1, exactly the same problem with my {p}.",
            "You're not alone, {issue} for me too.",
        ],
        "help": [
            "Try a factory reset, that fixed it for me.",
            "Did you update to the latest firmware? It helped with my {p}.",
            "Use the chat in the Acme app, email support takes forever.",
        ],
        "ask": ["Which firmware version are you on?", "Did they ever reply to you?"],
        "thanks": ["Thanks, that worked! 🙏", "Good to know, thank you!"],
        "brand": [
            "Sorry to hear that! Please DM us your order number and we'll make it right. ^AC",
        ],
    },
    "spike_issues": [
        "went from 80% to 0 in an hour",
        "got so hot I couldn't hold it",
        "is visibly swelling",
        "drains overnight since the 4.2 update",
        "won't charge past 20% anymore",
    ],
    "spike_reactions": [
        "Is this a recall?",
        "Anyone else?",
        "Unacceptable.",
        "I want a refund.",
        "Scared to charge it overnight now.",
        "@Acme please respond.",
    ],
    "spike": [
        "My Acme X2 battery {spike}. {react}",
        "Same as @techtrace: X2 battery {spike}. {react}",
        "This X2 battery thing is getting scary. Mine {spike} too. {react}",
        "Acme, recall the X2. The battery {spike}.",
        "Acme X2 owners, check your battery: mine {spike}. {react}",
    ],
    "spike_titles": ["Acme X2 battery {spike}", "X2 battery overheating megathread"],
}

_HANT: dict[str, Any] = {
    "products": [
        "Acme X2",
        "Acme X2 Pro",
        "Acme Buds 耳機",
        "Acme 手錶 S",
        "Acme 智慧音箱",
        "Acme App",
    ],
    "issues": [
        ("電池一下就沒電", "電池耗電"),
        ("藍牙一直配對失敗", "藍牙配對失敗"),
        ("更新之後開不了機", "更新後無法開機"),
        ("訂單卡在物流好幾天", "物流延遲"),
        ("被重複扣款", "重複扣款"),
        ("退款一直沒下來", "退款未入帳"),
        ("螢幕一直閃", "螢幕閃爍"),
        ("登入一直失敗", "無法登入"),
        ("客服沒回就把單關掉", "客服關單"),
        ("App 一直閃退", "App 閃退"),
    ],
    "issues_past": ["把電池耗光", "把藍牙弄壞", "把我登出所有裝置", "讓 App 一直閃退"],
    "features": ["深色模式", "離線地圖", "睡眠偵測", "自訂快捷鍵", "多帳號登入"],
    "howto": ["重設密碼", "更新韌體", "關閉自動更新", "匯出資料", "綁定第二支手機"],
    "compat": ["Android 15", "iOS 19", "Home Assistant"],
    "cities": ["台北", "台中", "高雄", "香港"],
    "complaint": [
        "{p} {issue}，真的很失望。",
        "等了{d}天還是{issue}，Acme 客服到底有沒有在看？",
        "我要退款！{p} {issue}，客服只會回罐頭訊息。",
        "{p} {issue}，已經去消保會投訴了。",
        "退貨{d}天了退款還沒下來，訂單 {order}，有人也這樣嗎？",
        "Acme 客服態度超差，{issue}還叫我自己想辦法。",
        "花全額買 {p}，結果{issue}，根本是垃圾。",
        "小心假冒 Acme 客服的詐騙帳號，會私訊要你的信用卡資料！",
        "Acme 的營銷簡訊一直傳來，取消訂閱也沒用，垃圾訊息可以停了嗎？",
    ],
    "praise": [
        "{p} 真的好用，續航一整天沒問題 👍",
        "謝謝 Acme 客服，{d}天就幫我換新的 {p}，服務很好！",
        "新版更新之後{feat}終於正常了，讚！",
        "用了三個月的 {p}，完全沒問題，會回購。",
    ],
    "question": [
        "請問 {p} 要怎麼{howto}？設定裡找不到。",
        "有人知道 {p} 支不支援{feat}嗎？",
        "{p} 買了{d}天還可以退貨嗎？",
        "訂單 {order} 的物流狀態要去哪裡查？",
    ],
    "sarcasm": [
        "每天早上都要重開機的 {p}，Acme 工程師真是太厲害了 🙃",
        "客服{d}天才回信，效率真高呢 👏",
        "又一次更新{past}，謝謝 Acme 喔。",
    ],
    "news": [
        (
            "Acme 發表 {p} 更新，新增{feat}",
            "Acme 表示本週將推送更新給所有 {p} 用戶，新增{feat}並修正錯誤。",
        ),
        ("消費者團體：Acme 退款投訴增加", "消保團體指出，近期收到多起關於 Acme 退款延遲的投訴。"),
        (
            "評測：{p} 表現不錯，但仍有缺點",
            "我們的評測發現 {p} 整體表現穩定，但部分測試中{issue}。",
        ),
        ("Acme 在{city}設立新客服中心", "{city}客服中心將負責 {p} 的維修與退貨。"),
    ],
    "feature": ["希望 {p} 可以加入{feat}，拜託 Acme！", "功能建議：{p} 請支援{feat}。"],
    "spam": [
        "🎁 Acme 週年抽獎！點擊 acme-prizes.example 免費領 {p}，限量100台！！！",
        "【限時營銷】{p} 一折起，加 LINE：acme{n}",
    ],
    "titles": {
        "complaint": ["{p}：{short}", "{short}，有人也這樣嗎？"],
        "praise": ["{p} 使用心得"],
        "question": ["請問 {p} 怎麼{howto}？"],
        "sarcasm": ["{p} 的高級體驗"],
        "feature": ["功能建議：{feat}"],
        "spam": ["免費送 {p}"],
    },
    "github_titles": {
        "complaint": ["[Bug] {p}：{short}"],
        "question": ["[Question] 如何{howto}？"],
        "feature": ["[Feature] {feat}"],
    },
    "replies": {
        "agree": ["我也是，{issue}。", "+1，我的 {p} 也一樣。"],
        "help": ["試試看恢復原廠設定，我這樣就好了。", "直接用 App 裡的線上客服比較快。"],
        "ask": ["你的韌體是哪一版？", "客服後來有回你嗎？"],
        "thanks": ["謝謝，成功了！🙏"],
        "brand": ["很抱歉造成困擾！請私訊訂單編號給我們，客服會盡快處理。"],
    },
    "spike_issues": ["充一晚就發燙", "一小時掉到0%", "膨脹了", "更新 4.2 之後耗電超快"],
    "spike_reactions": ["是不是要召回？", "有人也這樣嗎？", "太誇張了！", "我要退款。"],
    "spike": [
        "Acme X2 電池{spike}，{react}",
        "看到 @techtrace 的貼文，我的 X2 電池也{spike}。{react}",
        "X2 電池{spike}，Acme 客服完全沒回應。",
    ],
    "spike_titles": ["X2 電池{spike}"],
}

# Phrases a mainland writer would use; added to the converted Traditional set.
_HANS_EXTRA = {
    "complaint": [
        "售后太差了，{p} {issue}，坚决投诉！",
        "{p} 就是智商税，{issue}，已经申请退货退款。",
        "踩雷了，{p} {issue}，客服一直踢皮球。",
        "被 Acme 营销短信轰炸，垃圾信息能不能别发了？",
    ],
    "spam": ["【营销】{p} 限时秒杀，私信领券 acme{n}"],
}


def _convert(value: Any, convert: Any) -> Any:
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, tuple):
        return tuple(_convert(v, convert) for v in value)
    if isinstance(value, list):
        return [_convert(v, convert) for v in value]
    if isinstance(value, dict):
        return {k: _convert(v, convert) for k, v in value.items()}
    return value


@lru_cache(maxsize=1)
def _vocabularies() -> dict[str, dict[str, Any]]:
    import opencc

    hans = _convert(_HANT, opencc.OpenCC("t2s").convert)
    for key, extra in _HANS_EXTRA.items():
        hans[key] = [*hans[key], *extra]
    return {"en": _EN, "zh-Hant": _HANT, "zh-Hans": hans}


# ---------------------------------------------------------------- authors

_EN_FIRST = [
    "alex",
    "sam",
    "jordan",
    "taylor",
    "morgan",
    "casey",
    "riley",
    "jamie",
    "avery",
    "quinn",
    "maria",
    "james",
    "linda",
    "robert",
    "patricia",
    "michael",
    "jennifer",
    "david",
    "elena",
    "marco",
    "sofia",
    "lucas",
    "emma",
    "noah",
    "olivia",
    "liam",
    "ava",
    "ethan",
    "mia",
    "omar",
    "fatima",
    "kenji",
    "yuki",
    "priya",
    "arjun",
    "chloe",
    "dylan",
    "grace",
    "henry",
    "isla",
]
_EN_LAST = [
    "smith",
    "johnson",
    "brown",
    "garcia",
    "miller",
    "davis",
    "martinez",
    "lopez",
    "wilson",
    "anderson",
    "thomas",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "clark",
    "lewis",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "green",
    "baker",
    "adams",
    "nelson",
    "hill",
    "campbell",
    "mitchell",
    "roberts",
    "carter",
    "phillips",
]
# (romanised, Traditional, Simplified)
_ZH_SURNAMES = (
    ("chen", "陳", "陈"),
    ("lin", "林", "林"),
    ("huang", "黃", "黄"),
    ("zhang", "張", "张"),
    ("li", "李", "李"),
    ("wang", "王", "王"),
    ("wu", "吳", "吴"),
    ("liu", "劉", "刘"),
    ("tsai", "蔡", "蔡"),
    ("yang", "楊", "杨"),
    ("hsu", "許", "许"),
    ("cheng", "鄭", "郑"),
)
_ZH_GIVEN = (
    ("zhiming", "志明", "志明"),
    ("shufen", "淑芬", "淑芬"),
    ("yating", "雅婷", "雅婷"),
    ("jiahao", "家豪", "家豪"),
    ("yijun", "怡君", "怡君"),
    ("junjie", "俊傑", "俊杰"),
    ("meiling", "美玲", "美玲"),
    ("jianhong", "建宏", "建宏"),
    ("xiaowen", "曉雯", "晓雯"),
    ("weilun", "偉倫", "伟伦"),
    ("peiyu", "佩玉", "佩玉"),
    ("haoyu", "浩宇", "浩宇"),
    ("zihan", "子涵", "子涵"),
    ("yuxuan", "宇軒", "宇轩"),
)
_INSTANCES = {
    "en": ("mastodon.social", "fosstodon.org", "hachyderm.io", "mas.to"),
    "zh-Hant": ("g0v.social", "mastodon.social", "mstdn.hk"),
    "zh-Hans": ("m.cmx.im", "mastodon.social", "alive.bar"),
}
_OUTLETS = {
    "en": (
        ("gadgetwire.example", "GadgetWire"),
        ("dailybyte.example", "The Daily Byte"),
        ("consumerwatch.example", "Consumer Watch"),
        ("techpulse.example", "TechPulse"),
    ),
    "zh-Hant": (("technews-tw.example", "科技新報"), ("digitimes-weekly.example", "數位週報")),
    "zh-Hans": (("geek-daily.example", "极客日报"), ("tech-early.example", "科技早知道")),
}
# Known voices with large reach; they post now and then. The first starts the spike.
_INFLUENCERS = (
    ("mastodon", "en", "@techtrace@mastodon.social", "Tess Trace | gadget reviews", 482_000),
    ("bluesky", "en", "gadgetgabe.bsky.social", "Gabe Gadget", 1_240_000),
    ("reddit", "en", "u/BatteryBenchmarks", "BatteryBenchmarks", 156_000),
    ("hackernews", "en", "pgstyle", None, 210_000),
    ("mastodon", "zh-Hant", "@3c_review@g0v.social", "3C 開箱王", 318_000),
    ("bluesky", "zh-Hans", "shumaxiaowang.bsky.social", "数码小王", 2_050_000),
)
_BRAND = {
    "mastodon": ("@acme@mastodon.social", "Acme", 88_000),
    "bluesky": ("acme.bsky.social", "Acme", 64_000),
    "reddit": ("u/Acme_Official", "Acme Official", 12_400),
    "hackernews": ("acme_devrel", None, 900),
    "github": ("acme-bot", "Acme Bot", 1_200),
    "discourse": ("acme_staff", "Acme Staff", 0),
}
# our handle per source kind: the demo's sources get it as their `account` option
BRAND_ACCOUNTS = {kind: handle for kind, (handle, _, _) in _BRAND.items()}
_HOSTILE = (
    ("[bold red]URGENT[/bold red] ", ""),
    ("\x1b[31m", "\x1b[0m"),
    ("\x1b]8;;https://evil.example/\x07", "\x1b]8;;\x07"),
    ("\u202e", "\u202c"),
    ("\x1b[2J\x1b[H", ""),
    ("[link=https://evil.example]", "[/link]"),
)


def _mix(*values: int) -> int:
    """A small deterministic hash (splitmix64) of integers."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (v & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 29)


class _AuthorPool:
    """Authors of one (kind, language); low indexes post most (Zipf-like)."""

    def __init__(self, seed: int, number: int, kind: str, lang: str, size: int) -> None:
        self.seed = seed
        self.number = number
        self.kind = kind
        self.lang = lang
        self.size = max(8, size)
        self.cache: dict[int, dict[str, Any]] = {}

    def pick(self, u: float) -> dict[str, Any]:
        index = int(self.size * u**2.2)
        author = self.cache.get(index)
        if author is None:
            author = self.cache[index] = self._make(index)
        return author

    def _make(self, index: int) -> dict[str, Any]:
        h = _mix(self.seed, self.number, index)
        u = ((h >> 11) + 1) / 2**53
        followers = min(3_000_000, int(15 / u ** (1 / 1.15)))
        if self.kind == "rss":
            outlets = _OUTLETS[self.lang]
            domain, name = outlets[index % len(outlets)]
            return {"handle": domain, "name": name}
        if self.lang == "en":
            first = _EN_FIRST[index % len(_EN_FIRST)]
            last = _EN_LAST[(index // len(_EN_FIRST)) % len(_EN_LAST)]
            serial = index // (len(_EN_FIRST) * len(_EN_LAST))
            user = (f"{first}{last}", f"{first}_{last}", f"{first[0]}{last}", f"{first}.{last}")[
                h % 4
            ]
            name = f"{first.title()} {last.title()}"
        else:
            script = 1 if self.lang == "zh-Hant" else 2
            sur = _ZH_SURNAMES[index % len(_ZH_SURNAMES)]
            given = _ZH_GIVEN[(index // len(_ZH_SURNAMES)) % len(_ZH_GIVEN)]
            serial = index // (len(_ZH_SURNAMES) * len(_ZH_GIVEN))
            user = f"{given[0]}{sur[0]}" if h % 2 else f"{sur[0]}.{given[0]}"
            name = sur[script] + given[script]
        if serial or h % 3 == 0:
            user = f"{user}{serial * 100 + h % 97}"
        if self.kind == "mastodon":
            instances = _INSTANCES[self.lang]
            user = user.replace(".", "_")
            handle = f"@{user}@{instances[h % len(instances)]}"
        elif self.kind == "bluesky":
            handle = f"{user.replace('_', '-').replace('.', '-')}.bsky.social"
        elif self.kind == "reddit":
            handle = f"u/{user}"
        else:
            handle = user.replace(".", "_")
        author: dict[str, Any] = {"handle": handle, "name": name, "followers": followers}
        if self.kind == "hackernews":
            del author["name"]
        elif self.kind in ("github", "discourse"):
            del author["followers"]
        return author


# ---------------------------------------------------------------- generator


class _Post(NamedTuple):
    """What a later reply needs to know about an earlier post."""

    external_id: str
    lang: str
    intent: str
    root_number: int


_TITLED = frozenset({"reddit", "hackernews", "discourse", "github", "rss"})
_SPIKE = (
    "PSA: multiple reports (and now my own unit): the Acme X2 battery drains and gets "
    "dangerously hot after the 4.2 update. Stop charging overnight until Acme responds. "
    "🔥🔋 #AcmeX2"
)
_ENGAGEMENT = frozenset({"mastodon", "bluesky", "reddit", "hackernews"})
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


_B36_PAIRS = [a + b for a in _B36 for b in _B36]


def _base36(value: int) -> str:
    out = ""
    while value >= 36:
        value, pair = divmod(value, 1296)
        out = _B36_PAIRS[pair] + out
    return (_B36[value] + out) if value or not out else out


def _cumulative(weights: dict[str, float]) -> tuple[list[str], list[float]]:
    names = list(weights)
    total = float(sum(weights.values()))
    acc = 0.0
    cum = []
    for name in names:
        acc += weights[name] / total
        cum.append(acc)
    cum[-1] = 1.0
    return names, cum


def _choose(names: list[str], cum: list[float], u: float) -> str:
    return names[bisect.bisect_right(cum, u) if u < 1.0 else len(names) - 1]


def _hourly_counts(n: int, start: float) -> list[int]:
    """Split n over the hours: two daily peaks (16 UTC, 04 UTC), weekends quieter, slow growth."""
    hours = DAYS * 24
    weights = []
    for h in range(hours):
        mid = start + (h + 0.5) * 3600
        hod = (mid % 86400) / 3600
        weekday = int(mid // 86400 + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Sat, Sun
        w = 0.15
        for centre, height in ((16.0, 0.6), (4.0, 0.4)):
            dist = min(abs(hod - centre), 24 - abs(hod - centre))
            w += height * math.exp(-(dist**2) / 18)
        w *= 0.75 if weekday >= 5 else 1.0
        w *= 1 + 0.25 * h / hours
        weights.append(w)
    total = sum(weights)
    counts = []
    acc = 0.0
    placed = 0
    for w in weights:
        acc += w
        upto = round(n * acc / total)
        counts.append(upto - placed)
        placed = upto
    return counts


class _Generator:
    def __init__(self, n: int, seed: int, now: datetime) -> None:
        self.n = n
        self.seed = seed
        self.rng = random.Random(seed)
        self.end = math.floor(now.timestamp())
        self.start = self.end - DAYS * 86400
        self.vocab = _vocabularies()
        self.random = self.rng.random
        self.specs = SOURCES
        _, self.source_cum = _cumulative({s.name: s.share for s in SOURCES})
        self.intents = {k: _cumulative(v) for k, v in _INTENT_WEIGHTS.items()}
        self.reply_intents = _cumulative(_REPLY_WEIGHTS)
        self.pools: dict[tuple[str, str], _AuthorPool] = {}
        for number, spec in enumerate(SOURCES):
            for offset, (lang, share) in enumerate(zip(LANGS, spec.langs, strict=True)):
                size = int(n * spec.share * share / 3) if spec.kind != "rss" else 4
                pool = _AuthorPool(seed, number * 3 + offset, spec.kind, lang, size)
                self.pools[(spec.kind, lang)] = pool
        self.recent: dict[str, deque[_Post]] = {s.name: deque(maxlen=300) for s in SOURCES}
        self.roots: dict[str, deque[_Post]] = {s.name: deque(maxlen=120) for s in SOURCES}
        self.spike_posts: dict[str, deque[_Post]] = {s.name: deque(maxlen=200) for s in SOURCES}
        self.counter = (seed % 1000) * 100_000_000  # other seeds, other ids
        self.hours: dict[int, str] = {}
        self.spike_root: _Post | None = None  # the influencer's post that starts the spike

    # -- time

    def _times(self) -> Iterator[tuple[float, bool]]:
        n_spike = min(self.n, max(1, round(self.n * SPIKE_SHARE))) if self.n else 0
        n_normal = self.n - n_spike
        spike_start = self.end - SPIKE_HOURS * 3600 + 120
        span = self.end - spike_start
        spike = sorted(spike_start + span * self.rng.random() ** 0.5 for _ in range(n_spike - 1))
        if n_spike:
            spike.insert(0, float(spike_start))
        normal = self._normal_times(n_normal)
        i = 0
        for t in normal:
            while i < len(spike) and spike[i] <= t:
                yield spike[i], True
                i += 1
            yield t, False
        while i < len(spike):
            yield spike[i], True
            i += 1

    def _normal_times(self, n: int) -> Iterator[float]:
        rng = self.rng
        for hour, count in enumerate(_hourly_counts(n, self.start)):
            base = self.start + hour * 3600
            yield from sorted(base + 3600 * rng.random() for _ in range(count))

    # -- records

    def records(self) -> Iterator[tuple[dict[str, Any], bool]]:
        for t, is_spike in self._times():
            self.counter += 1
            if is_spike:
                yield self._spike(t), True
            else:
                yield self._normal(t), False

    def _normal(self, t: float) -> dict[str, Any]:
        rnd = self.random
        spec = self.specs[bisect.bisect_right(self.source_cum, rnd())]
        parent = None
        if spec.reply_share and rnd() < spec.reply_share:
            pool = self.roots[spec.name] if rnd() < 0.6 else self.recent[spec.name]
            if pool:
                parent = pool[-1 - int(len(pool) * rnd() ** 2)]
        if parent is None:
            lang = self._lang(spec)
            intent = _choose(*self.intents[spec.intents], rnd())
        else:
            lang = parent.lang if rnd() < 0.85 else self._lang(spec)
            intent = _choose(*self.reply_intents, rnd())
            if intent == "brand" and parent.intent not in ("complaint", "sarcasm", "spike"):
                intent = "help"
        return self._record(spec, t, lang, intent, parent)

    def _spike(self, t: float) -> dict[str, Any]:
        rnd = self.random
        if self.spike_root is None:
            _, lang, handle, name, followers = _INFLUENCERS[0]
            author = {"handle": handle, "name": name, "followers": followers}
            record = self._record(SOURCES[0], t, lang, "spike", None, author=author, text=_SPIKE)
            self.spike_root = self.recent[SOURCES[0].name][-1]
            return record
        u = rnd()
        spec = SOURCES[0 if u < 0.3 else 1 if u < 0.6 else 2 if u < 0.8 else 3 if u < 0.9 else 6]
        lang = "en" if rnd() < 0.7 else ("zh-Hant" if rnd() < 0.5 else "zh-Hans")
        posts = self.spike_posts[spec.name]
        parent = None
        if posts and rnd() < 0.55:
            parent = posts[-1 - int(len(posts) * rnd() ** 3)]
            if spec is SOURCES[0] and rnd() < 0.4:
                parent = self.spike_root  # the pile-on under the influencer's post
        return self._record(spec, t, lang, "spike", parent)

    def _lang(self, spec: _SourceSpec) -> str:
        u = self.random()
        en, hant, _ = spec.langs
        return "en" if u < en else "zh-Hant" if u < en + hant else "zh-Hans"

    def _record(
        self,
        spec: _SourceSpec,
        t: float,
        lang: str,
        intent: str,
        parent: _Post | None,
        *,
        author: dict[str, Any] | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        rnd = self.random
        vocab = self.vocab[lang]
        kind = spec.kind
        if author is not None:
            pass
        elif intent == "brand":
            handle, name, followers = _BRAND[kind]
            author = {"handle": handle, "name": name, "followers": followers}
        elif rnd() < 0.004:
            author = self._influencer(kind, lang)
        else:
            author = self.pools[(kind, lang)].pick(rnd()).copy()
        slots = _Slots(rnd, vocab)
        title = None
        if text is not None:
            pass
        elif intent == "spike":
            text = _pick(rnd, vocab["spike"]).format_map(slots)
            if parent is None and kind in ("reddit", "hackernews", "discourse"):
                title = _pick(rnd, vocab["spike_titles"]).format_map(slots)
        elif parent is not None:
            text = _pick(rnd, vocab["replies"][intent]).format_map(slots)
        elif intent == "news":
            title_template, body = _pick(rnd, vocab["news"])
            title = title_template.format_map(slots)
            text = body.format_map(slots)
        else:
            text = _pick(rnd, vocab[intent]).format_map(slots)
            if kind in _TITLED:
                titles = vocab["github_titles"] if kind == "github" else vocab["titles"]
                options = titles.get(intent) or vocab["titles"].get(intent)
                if options:
                    title = _pick(rnd, options).format_map(slots)
        if rnd() < HOSTILE_SHARE:
            before, after = _pick(rnd, _HOSTILE)
            text = before + text + after
            if rnd() < 0.3:
                author = {**author, "name": "\u202e" + (author.get("name") or "admin") + "\x1b[5m"}
        number = self.counter
        external_id, url = _address(kind, author, number, parent)
        base, noise = _SENTIMENT[intent]
        # bases and noises keep scores inside [-1, 1]
        score = math.floor((base + noise * (2 * rnd() - 1)) * 100 + 0.5) / 100
        record: dict[str, Any] = {
            "kind": kind,
            "source": spec.name,
            "external_id": external_id,
            "created_at": self._iso(int(t)),
            "text": text,
            "url": url,
            "author": author,
            "lang": lang,
        }
        if parent is not None:
            record["in_reply_to"] = parent.external_id
        if title:
            record["title"] = title
        record["sentiment"] = score
        record["sentiment_label"] = (
            "negative" if score <= -0.25 else "positive" if score >= 0.25 else "neutral"
        )
        if kind in _ENGAGEMENT:
            reach = math.sqrt(author.get("followers") or 50) * rnd()
            if kind in ("mastodon", "bluesky"):
                likes = int(reach * (4 if intent == "spike" else 1))
                record["engagement"] = {"likes": likes, "reposts": likes // 4}
            else:
                record["engagement"] = {"score": 1 + int(reach)}
        if spec.reply_share or intent == "spike":
            post = _Post(
                external_id, lang, intent, parent.root_number if parent is not None else number
            )
            self.recent[spec.name].append(post)
            if parent is None:
                self.roots[spec.name].append(post)
            if intent == "spike":
                self.spike_posts[spec.name].append(post)
        return record

    def _influencer(self, kind: str, lang: str) -> dict[str, Any]:
        for i_kind, i_lang, handle, name, followers in _INFLUENCERS:
            if i_kind == kind and (i_lang == lang or kind != "mastodon"):
                author = {"handle": handle, "followers": followers}
                if name:
                    author["name"] = name
                return author
        return self.pools[(kind, lang)].pick(self.random()).copy()

    def _iso(self, t: int) -> str:
        hour, rest = divmod(t, 3600)
        prefix = self.hours.get(hour)
        if prefix is None:
            prefix = self.hours[hour] = time.strftime("%Y-%m-%dT%H:", time.gmtime(hour * 3600))
        minute, second = divmod(rest, 60)
        return f"{prefix}{minute:02d}:{second:02d}Z"


def _pick(rnd: Any, options: Sequence[Any]) -> Any:
    return options[int(rnd() * len(options))]


class _Slots(dict):
    """Template values, drawn only when a template asks for them (keeps generation cheap)."""

    __slots__ = ("random", "vocab")
    _LISTS = {
        "p": "products",
        "past": "issues_past",
        "feat": "features",
        "howto": "howto",
        "compat": "compat",
        "city": "cities",
        "spike": "spike_issues",
        "react": "spike_reactions",
    }
    _NUMBERS = {"d": (2, 20), "pct": (3, 30), "n": (100, 900), "order": (1_000_000, 9_000_000)}

    def __init__(self, random_: Any, vocab: dict[str, Any]) -> None:
        super().__init__()
        self.random = random_
        self.vocab = vocab

    def __missing__(self, key: str) -> Any:
        if key in ("issue", "Issue", "short"):
            issues = self.vocab["issues"]
            issue, short = issues[int(self.random() * len(issues))]
            self["issue"], self["short"] = issue, short
            self["Issue"] = issue[:1].upper() + issue[1:]
            return self[key]
        if key in self._NUMBERS:
            low, span = self._NUMBERS[key]
            value: Any = low + int(self.random() * span)
            if key == "order":
                value = f"#A{value}"
        else:
            options = self.vocab[self._LISTS[key]]
            value = options[int(self.random() * len(options))]
        self[key] = value
        return value


def _address(
    kind: str, author: dict[str, Any], number: int, parent: _Post | None
) -> tuple[str, str]:
    """(external id, URL) in the shape each platform uses; independent of the clock,
    so that seeding the same n and seed again finds duplicates."""
    if kind == "mastodon":
        snowflake = 113_000_000_000_000_000 + number * 65_537
        handle = author["handle"]
        user, _, instance = handle.lstrip("@").partition("@")
        return str(snowflake), f"https://{instance or 'mastodon.social'}/@{user}/{snowflake}"
    if kind == "bluesky":
        rkey = "3l" + _base36(78_364_164_096 + number * 7).rjust(11, "0")
        handle = author["handle"]
        return (
            f"at://{handle}/app.bsky.feed.post/{rkey}",
            f"https://bsky.app/profile/{handle}/post/{rkey}",
        )
    if kind == "reddit":
        if parent is None:
            ident = _base36(1_600_000_000 + number)
            return f"t3_{ident}", f"https://www.reddit.com/r/acme/comments/{ident}/"
        ident = _base36(60_000_000_000 + number)
        root = _base36(1_600_000_000 + parent.root_number)
        return f"t1_{ident}", f"https://www.reddit.com/r/acme/comments/{root}/comment/{ident}/"
    if kind == "hackernews":
        ident = str(42_000_000 + number)
        return ident, f"https://news.ycombinator.com/item?id={ident}"
    if kind == "github":
        if parent is None:
            return f"issue-{number}", f"https://github.com/acme/app/issues/{number}"
        return (
            f"comment-{2_000_000_000 + number}",
            f"https://github.com/acme/app/issues/{parent.root_number}"
            f"#issuecomment-{2_000_000_000 + number}",
        )
    if kind == "rss":
        url = f"https://{author['handle']}/news/acme-{number}"
        return url, url
    topic = parent.root_number if parent is not None else number
    return f"post-{number}", f"https://forum.acme.example/t/{topic}/{number}"


def _generate(
    n: int, seed: int = 7, now: datetime | None = None
) -> Iterator[tuple[dict[str, Any], bool]]:
    """(record, belongs to the spike) pairs, oldest first."""
    yield from _Generator(n, seed, now or utcnow()).records()


def demo_records(n: int, *, seed: int = 7, now: datetime | None = None) -> Iterator[dict]:
    """`n` demo interchange records, oldest first; same arguments, same records."""
    for record, _ in _generate(n, seed, now):
        yield record


# ---------------------------------------------------------------- seeding a database

ROLES = (
    ("community", "first answers on social channels"),
    ("support", "orders, refunds, bugs"),
    ("pr", "press, influencers and crises"),
    ("lead", "team lead: escalations and staffing"),
)
AGENTS = (
    ("alice", "Alice Moreau", ("community", "support")),
    ("bob", "Bob Okafor", ("support",)),
    ("chen", "Chen Yu-ting 陳雨婷", ("community", "support")),
    ("dana", "Dana Levi", ("pr", "lead")),
)
TAGS = ("billing", "bug", "shipping", "battery", "refund", "praise", "feature-request", "spam")
_INCIDENT = "Acme X2 battery overheating"


def _table(name: str) -> Any:
    return SQLModel.metadata.tables[name]


def _insert_missing(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    statement = pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)
    conn.execute(statement.on_conflict_do_nothing(), rows)


def _team(conn: Any, now: datetime) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Roles, agents and tags (idempotent). Returns name -> id maps."""
    role, agent, agent_role, tag = (
        _table("role"),
        _table("agent"),
        _table("agentrole"),
        _table("tag"),
    )
    _insert_missing(conn, role, [{"name": n, "description": d} for n, d in ROLES])
    _insert_missing(
        conn,
        agent,
        [
            {"handle": h, "display_name": d, "on_duty": True, "capacity": 40, "created_at": now}
            for h, d, _ in AGENTS
        ],
    )
    _insert_missing(conn, tag, [{"name": name} for name in TAGS])
    roles = dict(conn.execute(select(role.c.name, role.c.id)).all())
    agents = dict(conn.execute(select(agent.c.handle, agent.c.id)).all())
    tags = dict(conn.execute(select(tag.c.name, tag.c.id)).all())
    _insert_missing(
        conn,
        agent_role,
        [
            {"agent_id": agents[h], "role_id": roles[r]}
            for h, _, agent_roles in AGENTS
            for r in agent_roles
        ],
    )
    return roles, agents, tags


_TOPIC_TAGS = (
    ("battery", "battery"),
    ("電池", "battery"),
    ("电池", "battery"),
    ("refund", "refund"),
    ("退款", "refund"),
    ("charged twice", "billing"),
    ("扣款", "billing"),
    ("shipping", "shipping"),
    ("物流", "shipping"),
    ("bricked", "bug"),
    ("crash", "bug"),
    ("閃退", "bug"),
    ("闪退", "bug"),
    ("giveaway", "spam"),
    ("營銷", "spam"),
    ("营销", "spam"),
    ("Feature request", "feature-request"),
    ("功能建議", "feature-request"),
    ("功能建议", "feature-request"),
)


def seed_demo(db: Database, n: int, *, seed: int = 7) -> IngestStats:
    """Fill `db` with `n` demo mentions and a team that has been working the queue.

    Roles, agents (alice, bob, chen, dana) and tags are created; then a
    realistic share of the new conversations is assigned, tagged, answered,
    snoozed, resolved, and the spike's threads are escalated into one incident.
    These are direct Core updates (seed data, not user actions: no events),
    each bumping `version` once.
    """
    now = utcnow().replace(microsecond=0)
    conversation = _table("conversation")
    with db.write() as session:
        conn = session.connection()
        roles, agents, tags = _team(conn, now)
        before = conn.execute(select(func.coalesce(func.max(conversation.c.id), 0))).scalar_one()
    spike_roots: set[tuple[str, str]] = set()

    def records() -> Iterator[Any]:
        for record, is_spike in _generate(n, seed, now):
            if is_spike and "in_reply_to" not in record:
                spike_roots.add((record["source"], record["external_id"]))
            yield parse_record(record)

    stats = ingest(db, records(), actor="system:seed")
    with db.write() as session:
        _work_the_queue(session.connection(), before, now, seed, roles, agents, tags, spike_roots)
    return stats


def work_the_queue(
    db: Database, *, seed: int = 7, spike_roots: Iterable[tuple[str, str]] = ()
) -> None:
    """Give already-imported conversations a team's triage state (benchmarks, demos).

    `spike_roots` are (source, external_id) of the spike's threads, to escalate.
    """
    now = utcnow().replace(microsecond=0)
    with db.write() as session:
        conn = session.connection()
        roles, agents, tags = _team(conn, now)
        _work_the_queue(conn, 0, now, seed, roles, agents, tags, set(spike_roots))


def _work_the_queue(
    conn: Any,
    after_id: int,
    now: datetime,
    seed: int,
    roles: dict[str, int],
    agents: dict[str, int],
    tags: dict[str, int],
    spike_roots: set[tuple[str, str]],
) -> None:
    conversation, source, author = _table("conversation"), _table("source"), _table("author")
    incident = _table("incident")
    conversation_tag = _table("conversation_tag")
    rng = random.Random(seed * 7919 + 1)
    incident_id = None
    if spike_roots:
        incident_id = conn.execute(
            incident.insert().returning(incident.c.id),
            {
                "title": _INCIDENT,
                "topic": "x2-battery",
                "severity": 3,
                "status": "open",
                "reason": "burst of reports that the X2 battery overheats after update 4.2, "
                "started by @techtrace (482k followers)",
                "opened_at": now - timedelta(hours=SPIKE_HOURS - 1),
            },
        ).scalar_one()
    by_kind = {"github": "support", "rss": "pr", "hackernews": "pr"}
    handles = [h for h, _, _ in AGENTS]
    last = after_id
    while True:
        rows = conn.execute(
            select(
                conversation.c.id,
                conversation.c.kind,
                conversation.c.root_key,
                conversation.c.created_at,
                conversation.c.last_activity_at,
                conversation.c.excerpt,
                conversation.c.title,
                source.c.name,
                author.c.followers,
            )
            .join(source, source.c.id == conversation.c.source_id)
            .outerjoin(author, author.c.id == conversation.c.author_id)
            .where(conversation.c.id > last)
            .order_by(conversation.c.id)
            .limit(5000)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        changes = []
        tag_rows = []
        for row in rows:
            age = (now - row.last_activity_at).total_seconds() / 3600
            u = rng.random()
            change: dict[str, Any] = {
                "b_id": row.id,
                "b_status": "new",
                "b_agent_id": None,
                "b_role_id": None,
                "b_priority": 1,
                "b_escalated": False,
                "b_severity": None,
                "b_reason": None,
                "b_incident_id": None,
                "b_first_response_at": None,
                "b_resolved_at": None,
                "b_snooze_until": None,
            }
            topic_text = f"{row.title or ''} {row.excerpt}"
            for needle, tag in _TOPIC_TAGS:
                if needle in topic_text:
                    tag_rows.append({"conversation_id": row.id, "tag_id": tags[tag]})
                    break
            role = by_kind.get(row.kind) or ("support" if "#A" in row.excerpt else "community")
            if age > 72:
                status = "resolved" if u < 0.75 else "pending" if u < 0.83 else "open"
            elif age > 24:
                status = (
                    "resolved"
                    if u < 0.4
                    else "pending"
                    if u < 0.55
                    else "snoozed"
                    if u < 0.6
                    else "open"
                    if u < 0.85
                    else "new"
                )
            else:
                status = "resolved" if u < 0.1 else "open" if u < 0.4 else "new"
            if (row.name, row.root_key) in spike_roots:
                status, role = ("open", "pr") if rng.random() < 0.5 else ("new", "pr")
                change.update(
                    b_escalated=True,
                    b_severity=3 if row.followers and row.followers > 100_000 else 2,
                    b_reason="X2 battery overheating reports",
                    b_incident_id=incident_id,
                    b_priority=3,
                )
            elif row.followers and row.followers > 50_000:
                change["b_priority"] = 2
            elif rng.random() < 0.05:
                change["b_priority"] = 0
            change["b_status"] = status
            change["b_role_id"] = roles[role] if status != "new" or rng.random() < 0.3 else None
            if status != "new":
                handle = handles[int(rng.random() * len(handles))]
                if role == "pr":
                    handle = "dana"
                change["b_agent_id"] = agents[handle]
                response = row.created_at + timedelta(minutes=5 + rng.random() * 600)
                change["b_first_response_at"] = min(response, now)
            if status == "resolved":
                resolved = row.last_activity_at + timedelta(minutes=10 + rng.random() * 1440)
                change["b_resolved_at"] = min(resolved, now)
            elif status == "snoozed":
                change["b_snooze_until"] = now + timedelta(hours=1 + rng.random() * 23)
            untouched = status == "new" and change["b_role_id"] is None
            if untouched and not change["b_escalated"] and change["b_priority"] == 1:
                continue
            changes.append(change)
        if changes:
            conn.execute(
                update(conversation)
                .where(conversation.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    agent_id=bindparam("b_agent_id"),
                    role_id=bindparam("b_role_id"),
                    priority=bindparam("b_priority"),
                    escalated=bindparam("b_escalated"),
                    severity=bindparam("b_severity"),
                    escalation_reason=bindparam("b_reason"),
                    incident_id=bindparam("b_incident_id"),
                    first_response_at=bindparam("b_first_response_at"),
                    resolved_at=bindparam("b_resolved_at"),
                    snooze_until=bindparam("b_snooze_until"),
                    version=conversation.c.version + 1,
                    updated_at=now,
                ),
                changes,
            )
        _insert_missing(conn, conversation_tag, tag_rows)
