"""Russian words customers type for what panels name in English.

Half the shop's customers write Russian, while panels (and the demo catalog) name their services in
English: "лайки" must find "Likes". A typed word matches a row by its stem (Russian endings vary:
подписчики, подписчиков, подписчика) and then stands for itself or any of its English words. Pure:
no database; the repository turns each group into an OR of substring matches.
"""

from __future__ import annotations

# Stem -> English words it stands for. A stem of 4+ letters matches a word that starts with it
# (with at most MAX_ENDING letters more); a shorter one only the whole word (`вк`, not `вкус`).
SYNONYMS: dict[str, tuple[str, ...]] = {
    # what is sold
    "подписчик": ("followers", "subscribers", "members"),
    "подписк": ("subscribers", "subscriptions", "followers"),
    "фолловер": ("followers",),
    "фоловер": ("followers",),
    "лайк": ("likes",),
    "просмотр": ("views",),
    "коммент": ("comments",),
    "комментари": ("comments",),
    "репост": ("shares", "reposts", "retweets"),
    "ретвит": ("retweets",),
    "поделит": ("shares",),
    "участник": ("members",),
    "реакци": ("reactions",),
    "голос": ("votes",),
    "опрос": ("poll", "votes"),
    "прослушиван": ("plays", "streams"),
    "сохранени": ("saves",),
    "зрител": ("viewers", "live stream"),
    "трансляци": ("live stream",),
    "эфир": ("live stream",),
    "охват": ("reach", "impressions"),
    "показ": ("impressions",),
    "друз": ("friends",),
    "трафик": ("traffic",),
    "упоминани": ("mentions",),
    "автолайк": ("auto likes",),
    "плейлист": ("playlist",),
    "канал": ("channel",),
    "групп": ("group",),
    "пост": ("post",),
    "видео": ("video",),
    "ролик": ("video", "reels", "shorts"),
    "рилс": ("reels",),
    "шортс": ("shorts",),
    "истори": ("story", "stories"),
    "сторис": ("story", "stories"),
    "часы": ("watch time", "hours"),
    "час": ("hours",),
    # platforms (bot/services/platforms.py knows their names; these are the spellings people type)
    "инстаграм": ("instagram",),
    "инст": ("instagram",),
    "тикток": ("tiktok",),
    "тик-ток": ("tiktok",),
    "ютуб": ("youtube",),
    "ютьюб": ("youtube",),
    "телеграм": ("telegram",),
    "телега": ("telegram",),
    "тг": ("telegram",),
    "вк": ("vk",),
    "вконтакт": ("vk",),
    "фейсбук": ("facebook",),
    "фэйсбук": ("facebook",),
    "твиттер": ("twitter",),
    "твитер": ("twitter",),
    "твич": ("twitch",),
    "спотифай": ("spotify",),
    "дискорд": ("discord",),
    "тредс": ("threads",),
    "сайт": ("website", "traffic"),
}
MAX_ENDING = 4  # letters a Russian ending adds to a stem: подписчик|ов, комментари|ев
MIN_PREFIX = 4  # shorter stems must match the whole word
MAX_ALTERNATIVES = 4  # per typed word: keeps a search a handful of LIKEs, whatever is typed


def alternatives(word: str) -> tuple[str, ...]:
    """The word itself, then the English words its longest matching stem stands for."""
    word = word.casefold()
    best = ""
    for stem in SYNONYMS:
        if len(stem) <= len(best):
            continue
        if word == stem or (
            len(stem) >= MIN_PREFIX and word.startswith(stem) and len(word) - len(stem) <= MAX_ENDING
        ):
            best = stem
    found = [word]
    for english in SYNONYMS.get(best, ()):
        if english not in found:
            found.append(english)
    return tuple(found[:MAX_ALTERNATIVES])


def search_groups(query: str, *, max_words: int = 8) -> tuple[tuple[str, ...], ...]:
    """One group per typed word (at most `max_words`): a service must match some term of each."""
    words = [w for w in query.casefold().split() if w][:max_words]
    return tuple(alternatives(word) for word in words)
