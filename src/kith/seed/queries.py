"""SQL of the synthetic data generator (driven by `kith.seed.generator`).

Every statement is set-based: rows come from `generate_series` over a range of
indexes, never from Python. Every pseudo-random value is a pure function of
(row ordinal, seed, column): `hashint8extended(ordinal, seed * 64 + column)` mapped to
[0, 1). `random()` is never used, so the same seed gives the same rows (ids
aside) in any session and at any chunk size.

Each generating query computes its hash draws once per row in an inner
subquery fenced with `OFFSET 0` (so the planner cannot inline them and
evaluate the same expression several times), derives indexes from them in a
middle level, and builds the column values at the top.

Vocabularies are Python lists rendered into SQL array literals here, once, at
import time (they are constants of the statements, not parameters).

Parameters common to the generating statements:
    $1 tenant_id (bigint)   $2 seed (bigint)   $3 first index   $4 last index
    $5 anchor (timestamptz: "now" of the synthetic world; start of the UTC day by default)
"""

from __future__ import annotations

# --------------------------------------------------------------------------- vocabularies

# (display, ascii slug for the email address)
FIRST_NAMES: list[tuple[str, str]] = [
    ("James", "james"),
    ("Mary", "mary"),
    ("John", "john"),
    ("Patricia", "patricia"),
    ("Robert", "robert"),
    ("Jennifer", "jennifer"),
    ("Michael", "michael"),
    ("Linda", "linda"),
    ("William", "william"),
    ("Elizabeth", "elizabeth"),
    ("David", "david"),
    ("Barbara", "barbara"),
    ("Richard", "richard"),
    ("Susan", "susan"),
    ("Joseph", "joseph"),
    ("Jessica", "jessica"),
    ("Thomas", "thomas"),
    ("Sarah", "sarah"),
    ("Charles", "charles"),
    ("Karen", "karen"),
    ("Daniel", "daniel"),
    ("Nancy", "nancy"),
    ("Matthew", "matthew"),
    ("Lisa", "lisa"),
    ("Anthony", "anthony"),
    ("Betty", "betty"),
    ("Mark", "mark"),
    ("Margaret", "margaret"),
    ("Steven", "steven"),
    ("Sandra", "sandra"),
    ("Paul", "paul"),
    ("Ashley", "ashley"),
    ("Andrew", "andrew"),
    ("Emily", "emily"),
    ("Joshua", "joshua"),
    ("Donna", "donna"),
    ("Kevin", "kevin"),
    ("Michelle", "michelle"),
    ("Brian", "brian"),
    ("Carol", "carol"),
    ("George", "george"),
    ("Amanda", "amanda"),
    ("Timothy", "timothy"),
    ("Melissa", "melissa"),
    ("Ronald", "ronald"),
    ("Deborah", "deborah"),
    ("Jason", "jason"),
    ("Stephanie", "stephanie"),
    ("Ryan", "ryan"),
    ("Rebecca", "rebecca"),
    ("Jacob", "jacob"),
    ("Laura", "laura"),
    ("Gary", "gary"),
    ("Sharon", "sharon"),
    ("Nicholas", "nicholas"),
    ("Cynthia", "cynthia"),
    ("Eric", "eric"),
    ("Kathleen", "kathleen"),
    ("Jonathan", "jonathan"),
    ("Amy", "amy"),
    ("José", "jose"),
    ("María", "maria"),
    ("Zoë", "zoe"),
    ("Chloé", "chloe"),
    ("François", "francois"),
    ("Hélène", "helene"),
    ("Søren", "soren"),
    ("Åsa", "asa"),
    ("Björn", "bjorn"),
    ("Jürgen", "jurgen"),
    ("Łukasz", "lukasz"),
    ("Małgorzata", "malgorzata"),
    ("Zoltán", "zoltan"),
    ("Ines", "ines"),
    ("João", "joao"),
    ("Renée", "renee"),
    ("Noël", "noel"),
    ("Siobhán", "siobhan"),
    ("Dagný", "dagny"),
    ("Mateus", "mateus"),
    ("Priya", "priya"),
    ("Arjun", "arjun"),
    ("Aisha", "aisha"),
    ("Omar", "omar"),
    ("Fatima", "fatima"),
    ("Yusuf", "yusuf"),
    ("Kenji", "kenji"),
    ("Yuki", "yuki"),
    ("Mei", "mei"),
    ("Wei", "wei"),
    ("Ngozi", "ngozi"),
    ("Kwame", "kwame"),
    ("Olga", "olga"),
    ("Dmitri", "dmitri"),
    ("Anaïs", "anais"),
    ("Çağla", "cagla"),
]

LAST_NAMES: list[tuple[str, str]] = [
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Williams", "williams"),
    ("Brown", "brown"),
    ("Jones", "jones"),
    ("Garcia", "garcia"),
    ("Miller", "miller"),
    ("Davis", "davis"),
    ("Rodriguez", "rodriguez"),
    ("Martinez", "martinez"),
    ("Hernandez", "hernandez"),
    ("Lopez", "lopez"),
    ("Gonzalez", "gonzalez"),
    ("Wilson", "wilson"),
    ("Anderson", "anderson"),
    ("Thomas", "thomas"),
    ("Taylor", "taylor"),
    ("Moore", "moore"),
    ("Jackson", "jackson"),
    ("Martin", "martin"),
    ("Lee", "lee"),
    ("Perez", "perez"),
    ("Thompson", "thompson"),
    ("White", "white"),
    ("Harris", "harris"),
    ("Sanchez", "sanchez"),
    ("Clark", "clark"),
    ("Ramirez", "ramirez"),
    ("Lewis", "lewis"),
    ("Robinson", "robinson"),
    ("Walker", "walker"),
    ("Young", "young"),
    ("Allen", "allen"),
    ("King", "king"),
    ("Wright", "wright"),
    ("Scott", "scott"),
    ("Torres", "torres"),
    ("Nguyen", "nguyen"),
    ("Hill", "hill"),
    ("Flores", "flores"),
    ("Green", "green"),
    ("Adams", "adams"),
    ("Nelson", "nelson"),
    ("Baker", "baker"),
    ("Hall", "hall"),
    ("Rivera", "rivera"),
    ("Campbell", "campbell"),
    ("Mitchell", "mitchell"),
    ("Carter", "carter"),
    ("Roberts", "roberts"),
    ("O'Brien", "obrien"),
    ("McAllister", "mcallister"),
    ("Núñez", "nunez"),
    ("Ødegaard", "odegaard"),
    ("Müller", "muller"),
    ("Schäfer", "schafer"),
    ("Dvořák", "dvorak"),
    ("Wójcik", "wojcik"),
    ("Kowalczyk", "kowalczyk"),
    ("Johansson", "johansson"),
    ("Håkansson", "hakansson"),
    ("Lefèvre", "lefevre"),
    ("Gonçalves", "goncalves"),
    ("Öztürk", "ozturk"),
    ("Papadopoulos", "papadopoulos"),
    ("Ivanova", "ivanova"),
    ("Kuznetsov", "kuznetsov"),
    ("Sato", "sato"),
    ("Tanaka", "tanaka"),
    ("Watanabe", "watanabe"),
    ("Kim", "kim"),
    ("Park", "park"),
    ("Chen", "chen"),
    ("Wang", "wang"),
    ("Patel", "patel"),
    ("Sharma", "sharma"),
    ("Okafor", "okafor"),
    ("Mensah", "mensah"),
    ("Haddad", "haddad"),
    ("Cohen", "cohen"),
    ("van der Berg", "vanderberg"),
    ("de la Cruz", "delacruz"),
    ("Fitzgerald", "fitzgerald"),
    ("Ó Súilleabháin", "osuilleabhain"),
]

# Whole names written family-name first, without a space (CJK).
CJK_NAMES: list[tuple[str, str]] = [
    ("李雷", "li.lei"),
    ("韩梅梅", "han.meimei"),
    ("王芳", "wang.fang"),
    ("张伟", "zhang.wei"),
    ("刘洋", "liu.yang"),
    ("陈静", "chen.jing"),
    ("田中太郎", "tanaka.taro"),
    ("佐藤花子", "sato.hanako"),
    ("鈴木一郎", "suzuki.ichiro"),
    ("김민준", "kim.minjun"),
    ("이서연", "lee.seoyeon"),
    ("박지훈", "park.jihoon"),
]
CJK_SHARE = 0.03

# Companies: ROOTS x SUFFIXES = 2,000 distinct names. Index k -> root k % 50, suffix k / 50.
COMPANY_ROOTS: list[tuple[str, str]] = [
    ("Acme", "acme"),
    ("Globex", "globex"),
    ("Initech", "initech"),
    ("Umbrella", "umbrella"),
    ("Stark", "stark"),
    ("Wayne", "wayne"),
    ("Hooli", "hooli"),
    ("Pied Piper", "piedpiper"),
    ("Vandelay", "vandelay"),
    ("Soylent", "soylent"),
    ("Cyberdyne", "cyberdyne"),
    ("Tyrell", "tyrell"),
    ("Wonka", "wonka"),
    ("Gringotts", "gringotts"),
    ("Aperture", "aperture"),
    ("Massive Dynamic", "massivedynamic"),
    ("Oscorp", "oscorp"),
    ("Monarch", "monarch"),
    ("Nakatomi", "nakatomi"),
    ("Dunder Mifflin", "dundermifflin"),
    ("Sterling Cooper", "sterlingcooper"),
    ("Blue Sun", "bluesun"),
    ("Wernham Hogg", "wernhamhogg"),
    ("Prestige", "prestige"),
    ("Northwind", "northwind"),
    ("Contoso", "contoso"),
    ("Fabrikam", "fabrikam"),
    ("Tailspin", "tailspin"),
    ("Litware", "litware"),
    ("Adatum", "adatum"),
    ("Lucerne", "lucerne"),
    ("Woodgrove", "woodgrove"),
    ("Proseware", "proseware"),
    ("Fourth Coffee", "fourthcoffee"),
    ("Wingtip", "wingtip"),
    ("Alpine", "alpine"),
    ("Bluewave", "bluewave"),
    ("Crestline", "crestline"),
    ("Driftwood", "driftwood"),
    ("Evergreen", "evergreen"),
    ("Foxglove", "foxglove"),
    ("Granite", "granite"),
    ("Harbor", "harbor"),
    ("Ironclad", "ironclad"),
    ("Juniper", "juniper"),
    ("Kestrel", "kestrel"),
    ("Lumen", "lumen"),
    ("Nordlys", "nordlys"),
    ("Zürich Re", "zurichre"),
    ("Ñandú", "nandu"),
]
COMPANY_SUFFIXES: list[tuple[str, str]] = [
    ("Labs", "labs"),
    ("Systems", "systems"),
    ("Inc.", "inc"),
    ("GmbH", "gmbh"),
    ("Ltd", "ltd"),
    ("Group", "group"),
    ("Holdings", "holdings"),
    ("Technologies", "tech"),
    ("Capital", "capital"),
    ("Partners", "partners"),
    ("Ventures", "ventures"),
    ("Media", "media"),
    ("Health", "health"),
    ("Bank", "bank"),
    ("Insurance", "insurance"),
    ("Logistics", "logistics"),
    ("Energy", "energy"),
    ("Foods", "foods"),
    ("Robotics", "robotics"),
    ("Analytics", "analytics"),
    ("Software", "software"),
    ("Networks", "networks"),
    ("Studios", "studios"),
    ("Consulting", "consulting"),
    ("Pharma", "pharma"),
    ("Motors", "motors"),
    ("Aerospace", "aerospace"),
    ("Biotech", "biotech"),
    ("Retail", "retail"),
    ("Security", "security"),
    ("Cloud", "cloud"),
    ("Games", "games"),
    ("Mobility", "mobility"),
    ("Materials", "materials"),
    ("Foundation", "foundation"),
    ("Cooperative", "coop"),
    ("S.A.", "sa"),
    ("AB", "ab"),
    ("K.K.", "kk"),
    ("Pty", "pty"),
]
N_COMPANIES = len(COMPANY_ROOTS) * len(COMPANY_SUFFIXES)  # 2,000
NULL_COMPANY_SHARE = 0.15

TITLES: list[str] = [
    "Software Engineer",
    "Senior Software Engineer",
    "Staff Engineer",
    "Engineering Manager",
    "VP Engineering",
    "CTO",
    "CEO",
    "COO",
    "CFO",
    "Founder",
    "Co-founder",
    "Product Manager",
    "Senior Product Manager",
    "Head of Product",
    "Designer",
    "Product Designer",
    "Data Scientist",
    "Data Engineer",
    "Account Executive",
    "Sales Director",
    "Marketing Manager",
    "Head of Marketing",
    "Recruiter",
    "Talent Partner",
    "Investor",
    "Partner",
    "Principal",
    "Analyst",
    "Consultant",
    "Operations Manager",
    "Customer Success Manager",
    "Journalist",
    "Professor",
    "Researcher",
    "Attorney",
    "Physician",
    "Architect",
    "Teacher",
    "Student",
    "Advisor",
]
NULL_TITLE_SHARE = 0.10

TAGS: list[str] = [
    "friend",
    "family",
    "work",
    "client",
    "investor",
    "mentor",
    "mentee",
    "recruiter",
    "college",
    "school",
    "neighbor",
    "conference",
    "vip",
    "prospect",
    "partner",
    "vendor",
    "press",
    "advisor",
    "alumni",
    "board",
    "engineering",
    "design",
    "sales",
    "marketing",
    "founder",
    "hiring",
    "book-club",
    "climbing",
    "running",
    "tennis",
    "music",
    "travel",
    "berlin",
    "london",
    "new-york",
    "san-francisco",
    "tokyo",
    "lisbon",
    "follow-up",
    "intro",
]

CADENCES: list[int] = [7, 14, 30, 60, 90, 180, 365]
CADENCE_SHARE = 0.40
BIRTHDAY_SHARE = 0.70
BIRTH_YEAR_SHARE = 0.50  # of those with a birthday
PHONE_SHARE = 0.60
LINK_SHARE = 0.30

EMAIL_DOMAINS: list[str] = ["example.com", "example.org", "example.net", "mail.example", "inbox.example"]
WORK_EMAIL_SHARE = 0.60  # of contacts with a company: an address at the company's domain

CHANNELS: list[str] = ["email", "sms", "chat", "linkedin"]

CONVERSATION_SUBJECTS: list[str] = [
    "Catching up",
    "Coffee next week?",
    "Intro",
    "Quick question",
    "Project kickoff",
    "Dinner plans",
    "Conference follow-up",
    "Hiring",
    "Contract review",
    "Birthday!",
    "Trip to Lisbon",
    "Board meeting",
    "Feedback on the draft",
    "Offsite",
    "Fundraising",
    "Reading list",
    "Weekend climbing",
    "Moving house",
    "Podcast guest?",
    "Références",
]

MESSAGE_SUBJECTS: list[str] = [
    "Re: catching up",
    "Quick question",
    "Following up",
    "Thanks!",
    "Next steps",
    "Re: coffee",
    "Notes from today",
    "Intro",
    "Draft attached",
    "Re: dinner",
    "Schedule",
    "Re: Re: the plan",
    "Congrats!",
    "Checking in",
    "Ideas",
    "Update",
]
GREETINGS: list[str] = [
    "Hi!",
    "Hey,",
    "Hello,",
    "Hi there,",
    "Morning!",
    "Good evening,",
    "Yo,",
    "Hallo,",
    "¡Hola!",
    "Bonjour,",
]
LINES: list[str] = [
    "Great to see you last week, let's do it again soon.",
    "Are you free for a call on Thursday afternoon?",
    "I read the draft and left a few comments in the doc.",
    "Could you introduce me to someone on the platform team?",
    "Sharing the notes from our meeting, let me know what I missed.",
    "Congrats on the new role, well deserved!",
    "We're hiring two engineers, know anyone good?",
    "The contract looks fine, I'll sign it tomorrow.",
    "Happy birthday! Hope the year ahead is a great one.",
    "Thanks for the book recommendation, halfway through already.",
    "Running late, be there in ten minutes.",
    "Can we move our catch-up to next week?",
    "Here's the deck for Monday, feedback welcome.",
    "Let's grab lunch when you're back in town.",
    "I'll send over the numbers by end of day.",
    "Loved the talk — the part about caching was spot on.",
]
CLOSINGS: list[str] = ["Cheers", "Best", "Thanks!", "Talk soon", "—", "xx", "Regards", "Speak soon", "Ciao", "Saludos"]

MENTION_SINGLE: list[str] = [
    "{a} raises $40M Series B",
    "{a} names new CEO",
    "{a} opens office in Lisbon",
    "{a} lays off 8% of staff",
    "{a} launches AI assistant",
    "{a} reports record quarter",
    "{a} files for IPO",
    "{a} hit by data breach",
    "{a} expands to Japan",
    "{a} wins industry award",
]
MENTION_PAIR: list[str] = [
    "{a} acquires {b}",
    "{a} partners with {b}",
    "{a} and {b} announce merger",
    "{a} sues {b} over patent",
    "{a} poaches executives from {b}",
    "{b} invests in {a}",
]
MENTION_PAIR_SHARE = 0.35
MENTION_SOURCES: list[str] = ["TechCrunch", "Reuters", "Bloomberg", "The Verge", "Handelsblatt", "Nikkei"]


# --------------------------------------------------------------------------- SQL helpers


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def text_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(_lit(v) for v in values) + "]::text[]"


def int_array(values: list[int]) -> str:
    return "ARRAY[" + ", ".join(str(v) for v in values) + "]::int[]"


def uniform(expr: str, column: int) -> str:
    """A uniform draw in [0, 1) for row `expr` and `column` (a stable hash, never random())."""
    if not 0 <= column < 64:
        raise ValueError("column salt must be in [0, 64)")
    return f"((hashint8extended({expr}, $2::bigint * 64 + {column}) & 2147483647)::float8 / 2147483648.0)"


def stable_hash(expr: str, column: int) -> str:
    """A non-negative 31-bit stable hash (for digits)."""
    return f"(hashint8extended({expr}, $2::bigint * 64 + {column}) & 2147483647)"


def pick(array_sql: str, index_expr: str) -> str:
    """`array[1 + index]`, for an integer expression `index` in [0, length of the array)."""
    return f"({array_sql})[1 + ({index_expr})]"


COMPANY_NAMES_SQL_ROOT = text_array([r for r, _ in COMPANY_ROOTS])
COMPANY_NAMES_SQL_SUFFIX = text_array([s for s, _ in COMPANY_SUFFIXES])
COMPANY_SLUGS_SQL_ROOT = text_array([r for _, r in COMPANY_ROOTS])
COMPANY_SLUGS_SQL_SUFFIX = text_array([s for _, s in COMPANY_SUFFIXES])
_ROOT_COUNT = len(COMPANY_ROOTS)


def company_name(index: str) -> str:
    """Company name of the index expression `index` (an int in [0, N_COMPANIES))."""
    return f"({COMPANY_NAMES_SQL_ROOT})[1 + ({index}) % {_ROOT_COUNT}] || ' ' || ({COMPANY_NAMES_SQL_SUFFIX})[1 + ({index}) / {_ROOT_COUNT}]"


def company_slug(index: str) -> str:
    return f"({COMPANY_SLUGS_SQL_ROOT})[1 + ({index}) % {_ROOT_COUNT}] || ({COMPANY_SLUGS_SQL_SUFFIX})[1 + ({index}) / {_ROOT_COUNT}]"


def skewed_company(draw: str, among: str = str(N_COMPANIES)) -> str:
    """Company index in [0, among) from a uniform `draw`, with a heavy head: P(0) = (1/2000)^(1/3) ~ 8%, a long tail."""
    return f"floor(({among}) * ({draw}) * ({draw}) * ({draw}))::int"


# --------------------------------------------------------------------------- session

# One transaction for the whole seed (see generator.py); set LOCAL to it (set_config(..., true))
# and put back afterwards, in case that transaction is the caller's and goes on.
SESSION_SETTINGS: dict[str, str] = {
    "synchronous_commit": "off",
    "statement_timeout": "0",
    "lock_timeout": "0",
    # The hash joins against the index maps and the per-chunk sort stay in memory.
    "work_mem": "512MB",
    # The statements are big but simple; compiling them costs more than it saves on a
    # 1M-row chunk, and makes timings erratic.
    "jit": "off",
}

# Also takes the locks the foreign-key checks would take (tenant and user rows, FOR KEY SHARE):
# nobody can delete them while the seed runs, even when the checks themselves are skipped.
CHECK_TENANT = """
SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE) AS tenant_ok,
       EXISTS (SELECT 1 FROM users WHERE id = $2 AND tenant_id = $1 FOR KEY SHARE) AS user_ok,
       EXISTS (SELECT 1 FROM conversations WHERE tenant_id = $1 AND source = 'synthetic') AS seeded
"""

SEEDED_TABLES = ["contacts", "contact_keys", "conversations", "messages", "mentions"]

# The foreign-key checks of the seeded rows cost ~40% of the time (three per message, each an
# index probe run through SPI). Every key written comes from the rows this transaction inserted
# (the temp maps) or from the tenant/user rows locked above, so the checks cannot fail; they are
# skipped with session_replication_role = replica -- but only when that is allowed (superuser)
# and skips nothing else: if any table we write has a trigger of its own (not a constraint
# trigger), replica mode would silently skip it, so the checks stay on.
CAN_SKIP_FK_CHECKS = """
SELECT current_setting('is_superuser') = 'on'
   AND NOT EXISTS (
       SELECT 1 FROM pg_trigger
       WHERE tgrelid = ANY ($1::text[]::regclass[]) AND NOT tgisinternal
   )
   AND NOT EXISTS (
       SELECT 1 FROM pg_rewrite rewrite_rule
       WHERE rewrite_rule.ev_class = ANY ($1::text[]::regclass[]) AND rewrite_rule.rulename <> '_RETURN'
   )
"""

# --------------------------------------------------------------------------- temp maps

CREATE_TEMP = """
CREATE TEMP TABLE seed_contact_ids (id bigint NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE seed_conv_ids (id bigint NOT NULL, channel text NOT NULL) ON COMMIT DROP;
"""

# Contact index (0-based, generation order) -> contact id, from the ids the inserts returned,
# with the contact's range [msg_lo, msg_hi) of message indexes (see INSERT_MESSAGES).
#
# Interaction counts are skewed: a share ($3) of the contacts is active; the active ones are put
# in a random order (by a hash) and the one of rank r gets a weight ~ r^(-2/3) (a Zipf law, the
# shape of drawing each message's contact as floor(m * u^3)), jittered by a factor in [0.5, 1.5).
# So the top 1% of contacts hold about a fifth to a quarter of the messages, the biggest a few
# hundred (small), thousands (medium) or tens of thousands (large), the active tail a handful
# each, and the inactive contacts none. Weights are integers and the message ranges are their exact integer
# partition of [0, $1): every message index belongs to exactly one contact, on any platform.
#
# $1 messages (N), $2 seed, $3 active share
BUILD_CONTACT_MAP = f"""
CREATE TEMP TABLE seed_contact_map ON COMMIT DROP AS
SELECT idx, id,
       div($1::bigint * (cum - weight), total)::bigint AS msg_lo,
       div($1::bigint * cum, total)::bigint AS msg_hi
FROM (
    SELECT idx, id, weight, sum(weight) OVER (ORDER BY idx) AS cum, sum(weight) OVER () AS total
    FROM (
        SELECT idx, id,
               CASE WHEN active
                    THEN round(1e9::float8 * power((row_number() OVER (PARTITION BY active ORDER BY u_rank, idx))::float8, -2.0::float8 / 3)
                               * (0.5 + u_jitter))::bigint
                    ELSE 0::bigint END AS weight
        FROM (
            SELECT idx, id,
                   {uniform("idx", 27)} < $3::float8 AS active,
                   {uniform("idx", 28)} AS u_rank,
                   {uniform("idx", 29)} AS u_jitter
            FROM (SELECT (row_number() OVER (ORDER BY id) - 1)::bigint AS idx, id FROM seed_contact_ids) numbered
            OFFSET 0
        ) drawn
    ) weighted
) cumulative
"""

BUILD_CONV_MAP = """
CREATE TEMP TABLE seed_conv_map ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY id) - 1)::bigint AS idx, id, channel FROM seed_conv_ids;
ANALYZE seed_conv_map;
"""

# --------------------------------------------------------------------------- contacts

_FIRST_COUNT, _LAST_COUNT, _CJK_COUNT = len(FIRST_NAMES), len(LAST_NAMES), len(CJK_NAMES)
_FIRST = text_array([n for n, _ in FIRST_NAMES])
_FIRST_SLUG = text_array([s for _, s in FIRST_NAMES])
_LAST = text_array([n for n, _ in LAST_NAMES])
_LAST_SLUG = text_array([s for _, s in LAST_NAMES])
_CJK = text_array([n for n, _ in CJK_NAMES])
_CJK_SLUG = text_array([s for _, s in CJK_NAMES])
_TAGS = text_array(TAGS)
_TAG_COUNT = len(TAGS)

# Column salts: contacts 1-23, conversations 24-26, contact weights 27-29, messages 30-37, mentions
# 40-45, group thread members 46-47: distinct per table, so row n of one table is not correlated with row n of another.
_CONTACT_SALTS = {
    "cjk": 1,
    "first": 2,
    "last": 3,
    "nocompany": 4,
    "company": 5,
    "title": 6,
    "ntags": 7,
    "tag_a": 8,
    "tag_b": 9,
    "tag_c": 10,
    "tag_d": 11,
    "bday": 12,
    "doy": 13,
    "year_known": 14,
    "year": 15,
    "cadence": 16,
    "cadence_pick": 17,
    "phone": 18,
    "phone_digits": 19,
    "created": 20,
    "domain": 21,
    "link": 22,
    "notitle": 23,
}

INSERT_CONTACTS = f"""
WITH inserted AS (
    INSERT INTO contacts (
        tenant_id, full_name, emails, phones, company, title, tags,
        birthday_month, birthday_day, birthday_year, cadence_days, links, created_at, updated_at
    )
    SELECT
        $1,
        contact.full_name,
        ARRAY[contact.slug || '.' || contact.ordinal || '@' ||
              CASE WHEN contact.company_k IS NOT NULL AND contact.u_domain < {WORK_EMAIL_SHARE}
                   THEN {company_slug("contact.company_k")} || '.example'
                   ELSE {pick(text_array(EMAIL_DOMAINS), f"floor(contact.u_domain * {len(EMAIL_DOMAINS)})::int")}
              END],
        CASE WHEN contact.u_phone < {PHONE_SHARE}
             THEN ARRAY['+1 555 ' || lpad((contact.phone_digits % 10000000)::text, 7, '0')]
             ELSE '{{}}'::text[] END,
        CASE WHEN contact.company_k IS NOT NULL THEN {company_name("contact.company_k")} END,
        CASE WHEN contact.u_notitle >= {NULL_TITLE_SHARE} THEN {pick(text_array(TITLES), f"floor(contact.u_title * {len(TITLES)})::int")} END,
        CASE WHEN contact.ntags = 0 THEN '{{}}'::text[]
             ELSE array_remove(ARRAY[
                 ({_TAGS})[1 + contact.ta],
                 CASE WHEN contact.ntags >= 2 AND contact.tb <> contact.ta THEN ({_TAGS})[1 + contact.tb] END,
                 CASE WHEN contact.ntags >= 3 AND contact.tc <> contact.ta AND contact.tc <> contact.tb THEN ({_TAGS})[1 + contact.tc] END,
                 CASE WHEN contact.ntags >= 4 AND contact.td <> contact.ta AND contact.td <> contact.tb AND contact.td <> contact.tc THEN ({_TAGS})[1 + contact.td] END
             ], NULL) END,
        CASE WHEN contact.has_bday THEN extract(month FROM contact.bday)::smallint END,
        CASE WHEN contact.has_bday THEN extract(day FROM contact.bday)::smallint END,
        CASE WHEN contact.has_bday AND contact.u_year_known < {BIRTH_YEAR_SHARE} THEN
             -- A Feb 29 birthday needs a leap year: 1952..2004 step 4; otherwise 1950..2005.
             CASE WHEN extract(month FROM contact.bday) = 2 AND extract(day FROM contact.bday) = 29
                  THEN (1952 + 4 * floor(contact.u_year * 14))::smallint
                  ELSE (1950 + floor(contact.u_year * 56))::smallint END
        END,
        CASE WHEN contact.u_cadence < {CADENCE_SHARE} THEN {pick(int_array(CADENCES), f"floor(contact.u_cadence_pick * {len(CADENCES)})::int")} END,
        CASE WHEN contact.u_link < {LINK_SHARE} THEN ARRAY['https://www.linkedin.com/in/' || replace(contact.slug, '.', '-') || '-' || contact.ordinal] ELSE '{{}}'::text[] END,
        contact.created_at,
        contact.created_at
    FROM (
        SELECT
            draw.ordinal,
            CASE WHEN draw.u_cjk < {CJK_SHARE}
                 THEN ({_CJK})[1 + floor(draw.u_first * {_CJK_COUNT})::int]
                 ELSE ({_FIRST})[1 + floor(draw.u_first * {_FIRST_COUNT})::int] || ' ' || ({_LAST})[1 + floor(draw.u_last * {_LAST_COUNT})::int]
            END AS full_name,
            CASE WHEN draw.u_cjk < {CJK_SHARE}
                 THEN ({_CJK_SLUG})[1 + floor(draw.u_first * {_CJK_COUNT})::int]
                 ELSE ({_FIRST_SLUG})[1 + floor(draw.u_first * {_FIRST_COUNT})::int] || '.' || ({_LAST_SLUG})[1 + floor(draw.u_last * {_LAST_COUNT})::int]
            END AS slug,
            CASE WHEN draw.u_nocompany >= {NULL_COMPANY_SHARE} THEN {skewed_company("draw.u_company")} END AS company_k,
            draw.u_notitle, draw.u_title, draw.u_domain, draw.u_phone, draw.phone_digits, draw.u_year_known, draw.u_year,
            draw.u_cadence, draw.u_cadence_pick, draw.u_link,
            floor(draw.u_ntags * 5)::int AS ntags,
            floor({_TAG_COUNT} * draw.u_ta * draw.u_ta)::int AS ta,
            floor({_TAG_COUNT} * draw.u_tb * draw.u_tb)::int AS tb,
            floor({_TAG_COUNT} * draw.u_tc * draw.u_tc)::int AS tc,
            floor({_TAG_COUNT} * draw.u_td * draw.u_td)::int AS td,
            draw.u_bday < {BIRTHDAY_SHARE} AS has_bday,
            -- Every day of a leap year equally likely: Feb 29 gets its proportional 1/366.
            DATE '2000-01-01' + floor(draw.u_doy * 366)::int AS bday,
            $5::timestamptz - floor(draw.u_created * {5 * 365 * 86400})::bigint * interval '1 second' AS created_at
        FROM (
            SELECT
                ordinal,
                {uniform("ordinal", _CONTACT_SALTS["cjk"])} AS u_cjk,
                {uniform("ordinal", _CONTACT_SALTS["first"])} AS u_first,
                {uniform("ordinal", _CONTACT_SALTS["last"])} AS u_last,
                {uniform("ordinal", _CONTACT_SALTS["nocompany"])} AS u_nocompany,
                {uniform("ordinal", _CONTACT_SALTS["company"])} AS u_company,
                {uniform("ordinal", _CONTACT_SALTS["notitle"])} AS u_notitle,
                {uniform("ordinal", _CONTACT_SALTS["title"])} AS u_title,
                {uniform("ordinal", _CONTACT_SALTS["ntags"])} AS u_ntags,
                {uniform("ordinal", _CONTACT_SALTS["tag_a"])} AS u_ta,
                {uniform("ordinal", _CONTACT_SALTS["tag_b"])} AS u_tb,
                {uniform("ordinal", _CONTACT_SALTS["tag_c"])} AS u_tc,
                {uniform("ordinal", _CONTACT_SALTS["tag_d"])} AS u_td,
                {uniform("ordinal", _CONTACT_SALTS["bday"])} AS u_bday,
                {uniform("ordinal", _CONTACT_SALTS["doy"])} AS u_doy,
                {uniform("ordinal", _CONTACT_SALTS["year_known"])} AS u_year_known,
                {uniform("ordinal", _CONTACT_SALTS["year"])} AS u_year,
                {uniform("ordinal", _CONTACT_SALTS["cadence"])} AS u_cadence,
                {uniform("ordinal", _CONTACT_SALTS["cadence_pick"])} AS u_cadence_pick,
                {uniform("ordinal", _CONTACT_SALTS["phone"])} AS u_phone,
                {stable_hash("ordinal", _CONTACT_SALTS["phone_digits"])} AS phone_digits,
                {uniform("ordinal", _CONTACT_SALTS["created"])} AS u_created,
                {uniform("ordinal", _CONTACT_SALTS["domain"])} AS u_domain,
                {uniform("ordinal", _CONTACT_SALTS["link"])} AS u_link
            FROM generate_series($3::bigint, $4::bigint) AS series(ordinal)
            OFFSET 0
        ) draw
        OFFSET 0
    ) contact
    RETURNING id, emails[1] AS email
),
keys AS (
    INSERT INTO contact_keys (tenant_id, contact_id, kind, value)
    SELECT $1, id, 'email', lower(email) FROM inserted
)
INSERT INTO seed_contact_ids (id) SELECT id FROM inserted
"""

# --------------------------------------------------------------------------- conversations

# $1 tenant, $2 seed, $3 first, $4 last, $5 anchor, $6 user_id
INSERT_CONVERSATIONS = f"""
WITH inserted AS (
    INSERT INTO conversations (tenant_id, user_id, source, external_id, channel, subject, created_at, updated_at)
    SELECT $1, $6, 'synthetic', 'conv-' || ordinal,
           {pick(text_array(CHANNELS), f"floor({uniform('ordinal', 24)} * {len(CHANNELS)})::int")},
           {pick(text_array(CONVERSATION_SUBJECTS), f"floor({uniform('ordinal', 25)} * {len(CONVERSATION_SUBJECTS)})::int")},
           -- Opened before the 3-year window of its messages.
           $5::timestamptz - interval '3 years' - floor({uniform("ordinal", 26)} * 90 * 86400)::bigint * interval '1 second',
           $5::timestamptz - interval '3 years' - floor({uniform("ordinal", 26)} * 90 * 86400)::bigint * interval '1 second'
    FROM generate_series($3::bigint, $4::bigint) AS series(ordinal)
    RETURNING id, channel
)
INSERT INTO seed_conv_ids (id, channel) SELECT id, channel FROM inserted
"""

# --------------------------------------------------------------------------- messages

# $1 tenant, $2 seed, $3 first, $4 last (message indexes), $5 anchor, $6 contacts (n), $7 conversations (c)
#
# Message `ordinal` belongs to the contact whose [msg_lo, msg_hi) holds it (BUILD_CONTACT_MAP): message
# indexes run in contact order, and the conversation of contact idx is idx * c / n (a conversation
# gathers a block of consecutive contacts). Inserted sorted by (contact id, sent_at), every message
# index (contact, conversation, external id, primary key) is filled at its right edge instead of
# at random places: each index page is written once, not once per chunk. This, not the expression
# evaluation, is what makes the large size fast on a small shared_buffers.
_MESSAGE_SALTS = {"sent": 31, "direction": 32, "subject": 33, "greet": 34, "line": 35, "close": 36, "line2": 37}
MESSAGE_WINDOW_SECONDS = 3 * 365 * 86400

INSERT_MESSAGES = f"""
INSERT INTO messages (
    tenant_id, conversation_id, contact_id, channel, direction, sent_at, subject, body,
    source, external_id, created_at
)
SELECT
    $1, message.conversation_id, message.contact_id, message.channel, message.direction, message.sent_at,
    message.subject, message.body, 'synthetic', 'msg-' || message.ordinal, message.sent_at
FROM (
    SELECT
        draw.ordinal, draw.contact_id, draw.conversation_id, draw.channel,
        -- Skewed toward recent: P(within the last x of the window) = sqrt(x).
        $5::timestamptz - floor(draw.u_sent * draw.u_sent * {MESSAGE_WINDOW_SECONDS})::bigint * interval '1 second' AS sent_at,
        CASE WHEN draw.u_direction < 0.55 THEN 'in' ELSE 'out' END AS direction,
        {pick(text_array(MESSAGE_SUBJECTS), f"floor(draw.u_subject * {len(MESSAGE_SUBJECTS)})::int")} AS subject,
        {pick(text_array(GREETINGS), f"floor(draw.u_greet * {len(GREETINGS)})::int")} || ' ' ||
        {pick(text_array(LINES), f"floor(draw.u_line * {len(LINES)})::int")} || ' ' ||
        CASE WHEN draw.u_line2 < 0.5 THEN {pick(text_array(LINES), f"floor(draw.u_line2 * {2 * len(LINES)})::int")} || ' ' ELSE '' END ||
        {pick(text_array(CLOSINGS), f"floor(draw.u_close * {len(CLOSINGS)})::int")} AS body
    FROM (
        SELECT
            series.ordinal, contact_range.id AS contact_id, conversation.id AS conversation_id, conversation.channel,
            {uniform("series.ordinal", _MESSAGE_SALTS["sent"])} AS u_sent,
            {uniform("series.ordinal", _MESSAGE_SALTS["direction"])} AS u_direction,
            {uniform("series.ordinal", _MESSAGE_SALTS["subject"])} AS u_subject,
            {uniform("series.ordinal", _MESSAGE_SALTS["greet"])} AS u_greet,
            {uniform("series.ordinal", _MESSAGE_SALTS["line"])} AS u_line,
            {uniform("series.ordinal", _MESSAGE_SALTS["line2"])} AS u_line2,
            {uniform("series.ordinal", _MESSAGE_SALTS["close"])} AS u_close
        FROM seed_contact_map contact_range
        JOIN seed_conv_map conversation ON conversation.idx = contact_range.idx * $7::bigint / $6::bigint
        CROSS JOIN LATERAL generate_series(greatest(contact_range.msg_lo, $3::bigint), least(contact_range.msg_hi, $4::bigint + 1) - 1) AS series(ordinal)
        WHERE contact_range.msg_hi > $3::bigint AND contact_range.msg_lo <= $4::bigint
        OFFSET 0
    ) draw
    OFFSET 0
) message
ORDER BY message.contact_id, message.sent_at
"""

# --------------------------------------------------------------------------- the group thread

# One chat with many members and a very long history (the worst case for the message keyset and
# the summary refresh). Its messages continue the numbering of the others (external ids stay
# unique), so their draws use the message salts at indexes past the last regular message.
GROUP_THREAD_SUBJECT = "Group: the whole crew"
GROUP_THREAD_MEMBERS = 200

# $1 tenant, $2 user_id, $3 conversation index (external id), $4 anchor
INSERT_GROUP_CONVERSATION = (
    """
INSERT INTO conversations (tenant_id, user_id, source, external_id, channel, subject, created_at, updated_at)
VALUES ($1, $2, 'synthetic', 'conv-' || $3::bigint, 'chat', '"""
    + GROUP_THREAD_SUBJECT
    + """',
        $4::timestamptz - interval '3 years 90 days', $4::timestamptz - interval '3 years 90 days')
RETURNING id
"""
)

# $1 tenant, $2 seed, $3 first, $4 last (message indexes, past the regular ones), $5 anchor,
# $6 the group conversation's id, $7 contacts (n). Each message comes from one of the members
# (a member is a contact drawn by a hash of its number); a tenth go out from the user, addressed
# to the member they answer. Inserted in sent_at order: the conversation's index fills at its edge.
INSERT_GROUP_MESSAGES = f"""
INSERT INTO messages (
    tenant_id, conversation_id, contact_id, channel, direction, sent_at, subject, body,
    source, external_id, created_at
)
SELECT $1, $6, contact.id, 'chat', message.direction, message.sent_at, '{GROUP_THREAD_SUBJECT}', message.body,
       'synthetic', 'msg-' || message.n, message.sent_at
FROM (
    SELECT
        draw.n,
        floor({uniform("floor(draw.u_member * " + str(GROUP_THREAD_MEMBERS) + ")::bigint", 47)} * $7::bigint)::bigint AS member_idx,
        $5::timestamptz - floor(draw.u_sent * draw.u_sent * {MESSAGE_WINDOW_SECONDS})::bigint * interval '1 second' AS sent_at,
        CASE WHEN draw.u_direction < 0.9 THEN 'in' ELSE 'out' END AS direction,
        {pick(text_array(GREETINGS), f"floor(draw.u_greet * {len(GREETINGS)})::int")} || ' ' ||
        {pick(text_array(LINES), f"floor(draw.u_line * {len(LINES)})::int")} || ' ' ||
        {pick(text_array(CLOSINGS), f"floor(draw.u_close * {len(CLOSINGS)})::int")} AS body
    FROM (
        SELECT
            series.n,
            {uniform("series.n", 46)} AS u_member,
            {uniform("series.n", _MESSAGE_SALTS["sent"])} AS u_sent,
            {uniform("series.n", _MESSAGE_SALTS["direction"])} AS u_direction,
            {uniform("series.n", _MESSAGE_SALTS["greet"])} AS u_greet,
            {uniform("series.n", _MESSAGE_SALTS["line"])} AS u_line,
            {uniform("series.n", _MESSAGE_SALTS["close"])} AS u_close
        FROM generate_series($3::bigint, $4::bigint) AS series(n)
        OFFSET 0
    ) draw
    OFFSET 0
) message
JOIN seed_contact_map contact ON contact.idx = message.member_idx
ORDER BY message.sent_at, message.n
"""

# --------------------------------------------------------------------------- mentions

# $1 tenant, $2 seed, $3 first, $4 last, $5 anchor, $6 companies to draw from (the first k of the
# vocabulary, i.e. the biggest: a small tenant's contacts only cover the head of the 2,000), $7 the
# days before the anchor the mentions are published over
_MENTION_SINGLE_SQL = text_array(MENTION_SINGLE)
_MENTION_PAIR_SQL = text_array(MENTION_PAIR)

_FIRST_COMPANY = skewed_company("draw.u_ka", "$6::int")
_SECOND_COMPANY = skewed_company("draw.u_kb", "$6::int")

INSERT_MENTIONS = f"""
INSERT INTO mentions (tenant_id, source, dedupe_key, title, link, summary, published_at, companies, created_at)
SELECT
    $1, 'synthetic', 'synthetic-' || mention.ordinal,
    CASE WHEN mention.pair
         THEN replace(replace(({_MENTION_PAIR_SQL})[1 + floor(mention.u_tpl * {len(MENTION_PAIR)})::int], '{{a}}', mention.first_company), '{{b}}', mention.second_company)
         ELSE replace(({_MENTION_SINGLE_SQL})[1 + floor(mention.u_tpl * {len(MENTION_SINGLE)})::int], '{{a}}', mention.first_company)
    END,
    'https://news.example.com/' || to_char(mention.published_at, 'YYYY/MM/DD') || '/story-' || mention.ordinal,
    'Reported by ' || ({text_array(MENTION_SOURCES)})[1 + floor(mention.u_src * {len(MENTION_SOURCES)})::int] || '.',
    mention.published_at,
    CASE WHEN mention.pair THEN ARRAY[mention.first_company, mention.second_company] ELSE ARRAY[mention.first_company] END,
    mention.published_at
FROM (
    SELECT
        draw.ordinal, draw.u_tpl, draw.u_src,
        {company_name(_FIRST_COMPANY)} AS first_company,
        {company_name(_SECOND_COMPANY)} AS second_company,
        draw.u_pair < {MENTION_PAIR_SHARE} AND {_FIRST_COMPANY} <> {_SECOND_COMPANY} AS pair,
        $5::timestamptz - floor(draw.u_pub * $7::int * 86400)::bigint * interval '1 second' AS published_at
    FROM (
        SELECT
            ordinal,
            {uniform("ordinal", 40)} AS u_ka,
            {uniform("ordinal", 41)} AS u_kb,
            {uniform("ordinal", 42)} AS u_pair,
            {uniform("ordinal", 43)} AS u_tpl,
            {uniform("ordinal", 44)} AS u_src,
            {uniform("ordinal", 45)} AS u_pub
        FROM generate_series($3::bigint, $4::bigint) AS series(ordinal)
        OFFSET 0
    ) draw
    OFFSET 0
) mention
"""

ANALYZE_TABLES = ["contacts", "contact_keys", "conversations", "messages", "mentions"]
