"""Small talk for the built-in SFT data: short reply pairs from real chats, answers about the model
itself, held-out openers, and the rule that tells a conversational reply from a drill answer.

Without small talk a model fine-tuned on the drill tasks answers "How are you?" with "71". This
file supplies what teaches it otherwise:

- `chitchat_pairs()`: (turn, next turn) pairs from the Chit Chat Challenge conversations (the
  MIT-licensed `chitchat-dataset` package), kept only when short and clean (see its docstring);
- `IDENTITY`: project-written questions about the model with honest answers;
- `OPENERS_TEST`: 100 project-written openers that training never shows, to test on;
- `smalltalk_train_example(rng)`: one training (prompt, reply);
- `is_off_task(reply)`: whether a reply to small talk is a drill answer instead of conversation.
"""

import functools
import importlib.util
import json
import re
from pathlib import Path

import numpy as np

from lmlab.data.splits import is_held_out
from lmlab.errors import LmlabError

MAX_WORDS = 20  # per side of a pair: a prompt and its reply fit the 128-token context together
MAX_CHARS = 120
IDENTITY_SHARE = 0.1  # of smalltalk_train_example draws; the rest are chit-chat pairs

# Common English swear words and slurs, matched as whole words whatever the case. Inflections are
# listed because whole-word matching does not see "fuck" inside "fucking".
PROFANITY = """
fuck fucks fucked fucker fuckers fucking fuckin motherfucker motherfuckers motherfucking wtf stfu
shit shits shitty shitting shitted bullshit horseshit dipshit
bitch bitches bitchy bitching bastard bastards asshole assholes ass asses arse arsehole jackass dumbass
dick dicks dickhead cock cocks cunt cunts pussy pussies twat wanker wankers prick pricks bollocks bugger
piss pissed pissing damn damned dammit goddamn goddamnit hell crap crappy
slut sluts slutty whore whores douche douchebag tits titties boobs cum dildo porn porno
nigger niggers nigga niggas faggot faggots fag fags dyke dykes tranny retard retarded
spic spics chink chinks kike kikes wetback wetbacks gook gooks coon coons paki pakis
""".split()

# Common English first names, matched as whole words whatever the case. Names that are also
# everyday words (Will, Mark, Bill, Frank, Grace, Hope, Joy, May, June, Rose, Christian, ...) are
# left out, so "I will" and "mark my words" survive.
FIRST_NAMES = """
james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony
donald steven paul andrew joshua kenneth kevin brian george edward ronald timothy jason jeffrey ryan jacob
gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander patrick
raymond dennis jerry tyler aaron jose adam nathan henry douglas zachary peter kyle ethan walter noah jeremy
keith terry austin sean gerald carl harold dylan arthur lawrence jordan jesse bryan billy bruce gabriel
logan alan juan albert willie elijah wayne randy vincent liam lucas oliver harry charlie mike chris matt
dave steve tom jim tony dan sam ben joe tim jake josh alex andy eddie luke
mary patricia jennifer linda elizabeth barbara susan jessica sarah karen nancy lisa betty margaret sandra
ashley kimberly emily donna michelle dorothy amanda melissa deborah stephanie rebecca sharon laura cynthia
kathleen amy shirley angela helen anna brenda pamela nicole emma samantha katherine christine debra rachel
catherine carolyn janet maria heather diane julie joyce victoria kelly christina lauren joan evelyn olivia
judith megan cheryl martha andrea frances hannah jacqueline ann gloria kathryn alice teresa sara janice
doris madison julia judy abigail marie denise beverly theresa marilyn danielle diana brittany natalie sophia
isabella alexis kayla charlotte ava mia chloe sophie ella zoe kate katie jenny becky molly lucy ellie taylor
""".split()


_PROFANITY = frozenset(PROFANITY)
_BANNED_WORDS = frozenset(PROFANITY + FIRST_NAMES)
_CENSORED = re.compile(r"[A-Za-z]\*+[A-Za-z]")  # "f*ck", "sh*t"
_CONTACT = re.compile(
    r"https?://|www\.|\b[\w-]+\.(?:com|org|net|edu|gov|io|co|uk|ly|me|tv)\b"  # URLs
    r"|[\w.+-]+@[\w-]+\.\w"  # e-mail addresses
    r"|@\w"  # social-media handles
    r"|\d(?:[\s().-]*\d){6,}",  # 7 or more digits, perhaps split by spaces, dots, dashes or brackets: phone numbers
    re.IGNORECASE,
)


def _keep(text: str, max_chars: int = MAX_CHARS, max_words: int = MAX_WORDS) -> bool:
    """Short, has a letter, and names no one, swears at no one, and holds no address or number to reach anyone."""
    if len(text) > max_chars or len(text.split()) > max_words:
        return False
    words = _whole_words(text)
    return bool(words) and not words & _BANNED_WORDS and not _CENSORED.search(text) and not _CONTACT.search(text)


def _whole_words(text: str) -> set[str]:
    """The lower-case whole words of text: "John's" has "john", "Johnny" has not."""
    return set(re.findall(r"[a-z]+", text.lower()))


def swears(text: str) -> bool:
    """Whether text holds a word of PROFANITY, as a whole word whatever the case."""
    return bool(_whole_words(text) & _PROFANITY)


@functools.cache
def chatterbot_pairs() -> tuple[tuple[str, str], ...]:
    """(question, first answer) of every English chatterbot-corpus conversation."""
    import yaml

    try:
        import chatterbot_corpus
    except ModuleNotFoundError:
        raise LmlabError(
            "the chatterbot task needs the chatterbot-corpus package (pip install chatterbot-corpus)"
        ) from None
    pairs = []
    for f in sorted((Path(chatterbot_corpus.__file__).parent / "data" / "english").glob("*.yml")):
        for conv in yaml.safe_load(f.read_text()).get("conversations", []):
            if len(conv) >= 2 and isinstance(conv[0], str) and isinstance(conv[1], str) and len(conv[1]) <= 200:
                pairs.append((conv[0].strip(), conv[1].strip()))
    return tuple(pairs)


def chitchat_pairs(path: str | Path | None = None) -> tuple[tuple[str, str], ...]:
    """(turn, reply) pairs of the training conversations (`chitchat_conversations`) that are short and clean.

    Each pair is two adjacent turns by different senders. A pair is kept when both sides
      - have at most 20 words (MAX_WORDS) and 120 characters (MAX_CHARS) and at least one letter,
      - contain no word of PROFANITY and no asterisk-censored word ("f*ck"),
      - contain no name of FIRST_NAMES: such pairs are dropped, not rewritten, because
        "My name is friend" would teach odd English,
      - contain no URL, e-mail address, @handle, or run of 7 or more digits (a phone number),
    and the reply is not off-task (`is_off_task`: "22" is no way to answer small talk). Exact
    duplicates are kept once, in file order. Of the adjacent pairs of the package's 6,468 training
    conversations, 62,779 survive.
    """
    return _pairs(chitchat_conversations("train", path))


def chitchat_test_pairs(path: str | Path | None = None) -> tuple[tuple[str, str], ...]:
    """The opening exchange (first turn, the other sender's reply) of each held-out conversation when it passes the
    rules of `chitchat_pairs`, less those opening with an opener of OPENERS_TEST and those that a training
    conversation or the chatterbot task also holds ("Hello?" -> "Hey!", "Hi" -> "Hello"): 254 held-out exchanges
    whose reference replies measure a model's reply loss (lmlab.eval.replies)."""
    trained = set(chitchat_pairs(path)) | set(chatterbot_pairs())
    openings = (_pairs([(cid, turns[:2])]) for cid, turns in chitchat_conversations("test", path))
    kept = (pair for pairs in openings for pair in pairs if not is_opener(pair[0]))
    return tuple(dict.fromkeys(pair for pair in kept if pair not in trained))


def _pairs(conversations) -> tuple[tuple[str, str], ...]:
    pairs: dict[tuple[str, str], None] = {}  # ordered set
    for _, turns in conversations:
        for (sender, text), (next_sender, reply) in zip(turns, turns[1:]):
            if sender != next_sender and _keep(text) and _keep(reply) and not is_off_task(reply):
                pairs[text, reply] = None
    return tuple(pairs)


def chitchat_conversations(split: str, path: str | Path | None = None) -> tuple[tuple[str, tuple], ...]:
    """(conversation id, ((sender, text), ...)) of the Chit Chat Challenge conversations of one split.

    The data is `dataset.json` of the `chitchat-dataset` package (MIT), read directly (path=None)
    or from `path`: {conversation_id: {"messages": [turn, ...], ...}}, a turn being a list of
    consecutive messages {"text", "timestamp", "sender"} by one sender. A turn's texts are joined
    with a space and whitespace is normalised; empty turns are skipped. split "test" is the
    conversations whose id `tasks.is_held_out` (about a tenth: 700 of 7,168), "train" the rest: no
    text of a test conversation is ever trained on, in pre-training or in SFT.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be train or test, got {split!r}")
    if path is None:
        spec = importlib.util.find_spec("chitchat_dataset")
        if spec is None or spec.origin is None:
            raise LmlabError("the small-talk data needs the chitchat-dataset package (pip install chitchat-dataset)")
        path = Path(spec.origin).parent / "dataset.json"
    return tuple(c for c in _read_conversations(str(path)) if is_held_out(c[0]) == (split == "test"))


@functools.cache
def _read_conversations(path: str) -> tuple[tuple[str, tuple], ...]:
    expected = 'expected {conversation_id: {"messages": [[{"text": ..., "sender": ...}, ...], ...]}}'
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise LmlabError(f"{path}: no such file; {expected}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LmlabError(f"{path}: not valid JSON ({e}); {expected}") from None
    if not isinstance(data, dict):
        raise LmlabError(f"{path}: the top level is a {type(data).__name__}; {expected}")
    conversations = []
    for conversation_id, conversation in data.items():
        turns = conversation.get("messages") if isinstance(conversation, dict) else None
        if not isinstance(turns, list):
            raise LmlabError(f"{path}: conversation {conversation_id!r} has no list of messages; {expected}")
        joined = (_turn(path, conversation_id, turn, expected) for turn in turns)
        conversations.append((conversation_id, tuple((s, t) for s, t in joined if s is not None and t)))
    return tuple(conversations)


MAX_PLAIN_CHARS = 400  # a pre-training line: longer turns are mostly pasted text


def plain_turns(turns, drop_openers: bool) -> list[str]:
    """The texts of a conversation's turns that pre-training may read: clean as `_keep` has it (no profanity, name
    or contact; up to MAX_PLAIN_CHARS) and, with drop_openers, none that is an opener of OPENERS_TEST."""
    return [
        text
        for _, text in turns
        if len(text) <= MAX_PLAIN_CHARS
        and _keep(text, MAX_PLAIN_CHARS, MAX_PLAIN_CHARS)
        and not (drop_openers and is_opener(text))
    ]


def _turn(path: str, conversation_id: str, turn, expected: str) -> tuple[str | None, str]:
    """(sender, the turn's texts joined with a space), or (None, "") for a turn with no message."""
    if not isinstance(turn, list) or not all(
        isinstance(m, dict) and isinstance(m.get("text"), str) and isinstance(m.get("sender"), str) for m in turn
    ):
        raise LmlabError(
            f"{path}: conversation {conversation_id!r} has a turn that is not a list of messages; {expected}"
        )
    text = " ".join(" ".join(m["text"].split()) for m in turn)
    return (turn[0]["sender"] if turn else None), " ".join(text.split())


# ---- who the model is ----------------------------------------------------------------------
_WHO = "I am a small language model trained with lmlab on a laptop CPU. I make mistakes, so please check what I say."
_WHAT = (
    "I am a small language model, not a person. lmlab trained me on the World English Bible, everyday "
    "conversations, small talk and simple tasks."
)
_HUMAN = "No, I am not a person. I am a small language model trained with lmlab on a laptop CPU."
_MADE = (
    "lmlab trained me on a laptop CPU: first on the World English Bible and everyday conversations, "
    "then on small talk and simple tasks."
)
_CAN = (
    "I can chat a little and do simple tasks like adding numbers or spelling words. "
    "I am a small lmlab model, so I make mistakes."
)
_NAME = "I have no name of my own. I am a small language model trained with lmlab on a laptop CPU."

IDENTITY: tuple[tuple[str, str], ...] = tuple(
    (question, answer)
    for questions, answer in [
        (["Who are you?", "who are you", "Who am I talking to?", "Who is this?", "Tell me about yourself.",
          "Introduce yourself.", "Can you tell me who you are?"], _WHO),
        (["What are you?", "what are you exactly?", "Are you a robot?", "Are you a chatbot?", "Are you an AI?",
          "What kind of program are you?", "Are you a computer?"], _WHAT),
        (["Are you human?", "are you a real person?", "Am I talking to a person?", "Are you alive?",
          "Is there a person typing this?", "Are you a human or a machine?"], _HUMAN),
        (["Who made you?", "Who created you?", "who built you?", "How were you trained?", "Where do you come from?",
          "Who trained you?", "How were you made?"], _MADE),
        (["What can you do?", "what are you good at?", "How can you help me?", "What do you know?",
          "What are you able to do?", "Can you help me?"], _CAN),
        (["What is your name?", "What's your name?", "whats your name", "Do you have a name?",
          "What should I call you?", "What are you called?"], _NAME),
    ]
    for question in questions
)  # fmt: skip

# ---- held-out openers ----------------------------------------------------------------------
# Never a training prompt (smalltalk_train_example rejects them after `_normalize`), so a model's
# replies to these show whether it holds a conversation it has not seen. The bare "Hi", "Hello"
# and "Hey" stay in training: they are the openers a chat model most needs.
OPENERS_TEST: tuple[str, ...] = (
    "Good morning!", "good afternoon", "Good evening.", "Hi there", "how are you", "How's your day going?",
    "What do you like to do?", "What are your hobbies?", "Nice to meet you", "What's new?",
    "Hey, how have you been?", "hello friend", "Howdy!", "Hiya", "Greetings!", "How is your week going?",
    "how was your weekend?", "What did you do today?", "Any plans for the weekend?", "What are you up to?",
    "How are things?", "How's life treating you?", "Long time no see!", "Pleased to meet you.",
    "It's nice to talk to you.", "What's going on with you?", "How are you feeling today?",
    "Are you having a good day?", "What's on your mind?", "What do you do for fun?", "do you have any hobbies",
    "What's your favorite food?", "What kind of music do you like?", "Do you like movies?",
    "What's your favorite color?", "Do you have a favorite book?", "What's your favorite season?",
    "Do you like to travel?", "Where would you like to go on vacation?", "Do you like sports?",
    "Do you prefer cats or dogs?", "What's the weather like today?", "Lovely weather today, isn't it?",
    "It's a beautiful day.", "How did you sleep?", "Have you had breakfast yet?", "What did you have for lunch?",
    "Are you busy right now?", "Got a minute to chat?", "Can we talk for a bit?", "I just wanted to say hi.",
    "Good to see you again!", "How's everything going?", "what's happening", "How's it going today?",
    "Yo, what's up?", "hey buddy", "Morning!", "Evening, how are you?", "Hello again", "Happy Friday!",
    "Happy Monday, how are you?", "What's your favorite movie?", "Do you like to cook?", "Do you play any games?",
    "What makes you happy?", "What are you doing this weekend?", "What's the best part of your day?",
    "Do you enjoy reading?", "What's your favorite holiday?", "Do you like the beach or the mountains?",
    "What kind of food do you like?", "Do you like coffee or tea?", "What's your favorite animal?",
    "Do you have any pets?", "What do you like about spring?", "Do you like rainy days?",
    "What's a fun fact you know?", "Tell me something interesting.", "I'm bored, let's chat.",
    "How's your morning been?", "Did you sleep well?", "What have you been up to lately?",
    "anything exciting happening?", "How do you spend your free time?", "What's your favorite thing to do on a Sunday?",
    "nice to meet you too", "Hey there, how's your evening?", "What are you thinking about?", "Do you like music?",
    "HELLO, HOW ARE YOU TODAY?", "good morning, how did you sleep?", "How have you been lately?",
    "What's the good word?", "How's your family?", "What did you do last weekend?", "Are you enjoying your day?",
    "What's your favorite sport?", "hi, how's your week been?", "Do you like to sing?",
)  # fmt: skip


def _normalize(prompt: str) -> str:
    """Lower case, punctuation removed, whitespace normalised: "How's it going?" -> "hows it going"."""
    return " ".join(re.sub(r"[^\w\s]", "", prompt.lower()).split())


_OPENERS = frozenset(map(_normalize, OPENERS_TEST))


def is_opener(text: str) -> bool:
    """Whether text is one of the held-out OPENERS_TEST, up to case, punctuation and spacing: no training text may
    be (smalltalk, chatterbot and the pre-training lines all check)."""
    return _normalize(text) in _OPENERS


@functools.cache
def _train_pairs() -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """(chit-chat pairs, identity pairs) a training draw may return: neither an opener nor held out."""

    def trainable(pairs):
        return tuple((p, r) for p, r in pairs if not is_opener(p) and not is_held_out(p))

    return trainable(chitchat_pairs()), trainable(IDENTITY)


def smalltalk_train_example(rng: np.random.Generator) -> tuple[str, str]:
    """A training (prompt, reply): an IDENTITY pair with probability IDENTITY_SHARE, else a chit-chat pair.

    Prompts that are an opener of OPENERS_TEST (after `_normalize`) or held out by
    `tasks.is_held_out` are never drawn.
    """
    chitchat, identity = _train_pairs()
    pairs = identity if rng.random() < IDENTITY_SHARE else chitchat
    return pairs[int(rng.integers(len(pairs)))]


# ---- off-task replies ----------------------------------------------------------------------
_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?(?:(?:\s*,\s*|\s+)-?\d+(?:\.\d+)?)*")  # "71", "-3", "3, 17, 42", "3 17 42"
_LETTERS = re.compile(r"[A-Za-z](?:\s+[A-Za-z])+")  # "s t o n e"


@functools.cache
def _reference() -> re.Pattern:
    """A Bible reference: a book title as the built-in corpus writes it, chapter:verse ("1 John 3:16")."""
    from pythonbible import Book

    books = "|".join(re.escape(book.title) for book in Book)
    return re.compile(rf"(?:{books})\s+\d+:\d+(?:-\d+)?", re.IGNORECASE)


def is_off_task(reply: str) -> bool:
    """Whether a reply to small talk is a drill answer of the built-in tasks rather than conversation.

    A reply is off-task when, with surrounding whitespace and one final "." or "!" removed, it is
      - empty,
      - a number or a list of numbers separated by commas or spaces ("71", "-3", "3, 17, 42", "3 17 42"),
      - two or more single letters separated by spaces ("s t o n e"), or
      - a Bible reference: a book title and chapter:verse ("Genesis 1:1", "1 John 3:16").
    Only the whole reply counts: a sentence that contains a number ("I am 25 years old") is on-task.
    """
    text = re.sub(r"[.!]$", "", reply.strip()).strip()
    return not text or any(p.fullmatch(text) for p in (_NUMBERS, _LETTERS, _reference()))
