"""The running text of a report: title, preamble and the prose of sections 一, 五 and 六.

Sentences are drawn from banks written after real reports (the seeds). Placeholders:
{A} the agency as named in the body, {S} how it calls itself (我局/本机关/我镇), {Y} the year as
"2024年" (or 本年度 when the year is planted missing), {PY} the previous year, {UP} 县委、县政府
and the like, {PORTAL} the government portal, {TOPIC} the agency's line of work. Numbers come
from the report's clean values so the prose agrees with the tables.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

INTRO = (
    "{Y}，{A}深入贯彻落实《条例》及国家、省、市关于政务公开工作的系列决策部署，坚持以公开为常态、不公开为例外，"
    "聚焦群众需求和中心工作，持续深化公开内容、优化公开流程、创新公开载体，全面提升政府信息公开工作标准化、规范化、便民化水平。"
    "全年政府信息公开工作运行有序，具体情况如下：",
    "{Y}，{A}坚持以习近平新时代中国特色社会主义思想为指导，认真贯彻党中央、国务院的决策部署和省委、省政府的工作要求，"
    "围绕{UP}中心工作，坚持以人民为中心持续深化政务公开，准确执行《条例》，着力推动政务公开平台建设、信息公开、"
    "标准化规范化、政策解读等重点工作，有力保障了公众知情权、参与权、表达权和监督权。",
    "{Y}，{A}认真贯彻执行《中华人民共和国政府信息公开条例》文件精神，围绕{UP}中心工作，积极践行“公开为常态，不公开为例外”，"
    "进一步深化政府信息公开，主动回应群众关切，以公开促落实、促规范、促服务。",
    "{Y}，按照{UP}的部署要求，{S}完善政务公开工作，规范信息公开内容，突出信息公开工作重点，增强行政工作透明度，"
    "推进政务管理制度化、规范化，政务公开工作水平得到有效提升。现将一年来的工作情况总结如下：",
    "{Y}，在{UP}的正确领导下，{A}以提升政务公开质量为主线，紧扣{TOPIC}等重点领域，扎实做好政府信息主动公开、"
    "依申请公开和政策解读工作，政务公开工作取得新成效。",
)

PROACTIVE = (
    "围绕中心工作精准公开。紧扣本单位核心职能，全年主动公开各类政府信息{N}条，其中，机构信息{N1}条，政策文件{N2}条，"
    "财政信息{N3}条，工作动态{N4}条。及时公开了部门预决算、重要通知等内容，切实保障群众对核心政务工作的知情权。",
    "{Y}，{S}通过{PORTAL}主动公开政府信息{N}条，及时公布本单位机构职能、领导分工、办事指南、财务等政府信息。",
    "强化信息集成发布，依托{PORTAL}做好基础信息公开工作，全年发布各类信息{N}条，其中，更新机构信息{N1}条，"
    "政务公开{N2}条，财政信息{N3}条。",
    "共主动公开各类政府信息{N}条，其中通过政府网站公开政府信息{N2}条，通过政务新媒体、公开栏等其他平台公开政府信息{N4}条。"
    "重点做好{TOPIC}等领域信息公开，做到应公开尽公开。",
    "全面梳理本单位依法行使的行政权力和依法承担的公共服务职责，按要求更新权责清单，规范公开机构设置、职能、办公地址、"
    "办公时间、联系方式等机构信息，全年主动公开政府信息{N}条。",
)

REQUESTS_NONE = (
    "{Y}，{S}未收到政府信息公开申请，无因政府信息公开工作被申请行政复议、行政诉讼事项。",
    "{Y}，{S}未接收到政府信息公开申请。",
    "{Y}以来，{S}未收到政府信息公开申请，没有因政府信息公开工作引起的行政复议、行政诉讼、举报投诉等情况。",
    "{Y}，{S}收到依申请公开0件。",
)

REQUESTS_SOME = (
    "{Y}，{S}共收到政府信息公开申请{NEW}件，上年结转{CO}件，已全部按照法定时限和程序予以答复{CF_TEXT}。",
    "规范依申请公开办理流程，严格落实登记、审核、答复、归档等环节要求。{Y}，{S}受理本年新收政府信息公开申请数量{NEW}件，"
    "上年结转政府信息公开申请数量{CO}件{CF_TEXT}。",
    "{Y}，{S}新收政府信息公开申请{NEW}件，其中自然人申请{NP}件，法人或其他组织申请{ORG}件；上年结转{CO}件{CF_TEXT}。"
    "所有申请均在法定期限内办理完毕，未发生超期答复情况。",
)

MANAGEMENT = (
    "完善制度体系。结合工作实际，修订完善相关审核、审查制度，进一步明确信息公开的范围、程序、责任和保密要求，"
    "形成“用制度管公开、按制度促公开”的工作格局。严格落实“先审查、后公开，谁审查、谁负责”原则，全年未发生失泄密事件。",
    "严格信息发布“三审制”，做到信息发布操作人员、分管领导审签，重大事项报主要领导审核。根据工作开展情况及时刊发相应类目信息，"
    "做到更新及时、归类规范、严格审批。",
    "建立健全主要领导负责、分管领导主抓、各股室落实的管理机制，加强政府信息公开发布审核把关，严格执行“分级审核、先审后发”程序，"
    "确保政府信息公开工作能够按照工作流程有效运作。",
    "严格按照政府信息公开保密审查、依申请公开、责任追究等一系列工作制度，确保政府信息公开依法有序开展。",
    "动态调整主动公开基本目录，对已公开的政策文件进行全面梳理，及时清理过期失效信息，确保公开信息准确、完整、权威。",
)

PLATFORM = (
    "积极配合做好{PORTAL}的维护工作，按要求完成各项任务。",
    "结合{S}职责，加强政府信息公开平台管理，网站栏目按照法定时限进行实时更新，公众号及时更新，方便社会公众快速准确获取有效信息。",
    "在发挥政府网站和政务新媒体平台作用的同时，打造政务公开线下专区，设置自助查询、资料阅览、公开申请接收、政策咨询等功能模块。",
    "充分利用微信公众号等政务新媒体平台，及时发布工作动态和热点信息，拓宽政府信息公开渠道。同时加强网站的安全防护和技术维护，"
    "确保网站的稳定运行和信息安全。",
    "依托{PORTAL}，优化信息检索功能，健全审核更新与安全防护机制，保障信息精准高效公开。",
)

SUPERVISION = (
    "加强组织领导。调整充实政府信息公开工作领导小组，由主要负责同志任组长，分管负责同志任副组长，各股室负责人为成员，"
    "确保各项工作部署落地落实。组织参加政府信息公开业务培训{T}次，全年网站运转正常，发布信息规范、及时。",
    "将政府信息公开工作纳入年度绩效考核，定期开展自查自纠，对发现的问题及时整改。{Y}，{S}未发生政府信息公开工作重大责任事件。",
    "制定年度政务公开重点工作清单，对测评反馈问题及时整改，并将整改情况在工作推进栏目发布。",
    "加强网站运维监测，对监测情况及时梳理，凡涉及秘密内容一律不准上传。网站管理人员及时更新网站内容，纠正监测发现的问题。",
    "制定完善政府信息公开制度，加强信息公开审核，凡对外公开信息，由拟稿人、责任股室、分管领导逐级审核，确保信息准确真实。",
)

PROBLEMS = (
    "{Y}，{S}政府信息公开工作虽取得一定成效，但仍存在短板不足：一是公开时效性不足，部分工作动态未按规定时限及时公开；"
    "二是公开范围不够广泛，主动公开的广度有待拓展；三是政策解读形式较为单一。",
    "信息公开广度和深度还不够；工作人员业务水平需进一步提高；网络信息安全工作还需要加强。",
    "{S}在政府信息公开工作方面做了很多努力，但对照上级标准和人民群众的期望还存在一定差距，主要是政策解读力度有待加强、"
    "依申请公开水平有待提升等方面的问题。",
    "{S}政务公开工作取得了一定进展，但是还存在着一些问题，一是工作人员公开意识不强；二是政策文件解读不全面、不生动；"
    "三是个别内容更新不及时、公开不全面。",
)

IMPROVEMENTS = (
    "针对上述问题，将采取以下改进措施：一是强化时效管控，建立信息公开“定时提醒+即时督办”机制，确保应公开信息及时上线；"
    "二是拓宽公开范围，梳理公开清单，重点补充{TOPIC}等信息；三是定期开展专题培训，强化责任意识，促进工作落实。",
    "下一步，{S}将进一步拓展政府信息公开的广度和深度，加强业务培训，严把保密审查关，依据有关法律、法规严格审核公开内容，"
    "确保政府信息公开不影响国家安全、公共安全、经济安全和社会稳定。",
    "在今后的工作中将采取以下改进措施：一是进一步强化责任意识，严格落实信息公开审核制度；二是加强学习，提升队伍素质，"
    "提高信息发布、政策解读、舆论引导等方面的能力和水平。",
    "一是健全组织体系，进一步强化各股室主体责任；二是完善信息公开制度体系，明确政策发布和解读主体责任，丰富解读形式；"
    "三是加强依申请公开业务培训，规范受理、登记、办理、答复、归档等环节，确保答复依法依规、及时妥善。",
)

OTHER = (
    "信息处理费收费情况：本年度未收取信息处理费。",
    "依据《国务院办公厅关于印发〈政府信息公开信息处理费管理办法〉的通知》（国办函〔2020〕109号）规定，本年度{S}未收取信息处理费。",
    "{Y}，{S}未发生收取信息处理费情况。",
    "本年度没有产生政府信息公开信息处理费。无其他需要报告的事项。",
    "信息处理费收费情况。本年度未收取信息处理费。",
)

SUBHEADS = (
    ("（一）主动公开", "（二）依申请公开", "（三）政府信息管理", "（四）政府信息公开平台建设", "（五）监督保障"),
    ("（一）主动公开政府信息情况", "（二）依申请公开情况", "（三）政府信息管理情况", "（四）平台建设情况", "（五）监督保障情况"),
    ("（一）主动公开情况：", "（二）依申请公开办理情况：", "（三）政府信息管理：", "（四）政府信息公开平台建设：", "（五）监督保障："),
)

TABLE_OMITTED = {
    "proactive": "本年度主动公开政府信息情况详见第一部分，相关统计数据另行公开。",
    "requests": "{Y}，{S}收到和处理政府信息公开申请情况已在第一部分说明。",
    "appeals": "{Y}，{S}未发生因政府信息公开工作被申请行政复议、提起行政诉讼的情况。",
}

SECTION_TITLES = {
    1: ("一、总体情况", ("一、总体工作情况", "一、总体情况概述")),
    2: ("二、主动公开政府信息情况", ("二、主动公开政府信息情况统计", "二、主动公开政府信息")),
    3: ("三、收到和处理政府信息公开申请情况", ("三、收到和处理政府信息公开申请的情况", "三、收到和处理政府信息公开申请情况统计")),
    4: ("四、政府信息公开行政复议、行政诉讼情况",
        ("四、因政府信息公开工作被申请行政复议、提起行政诉讼情况", "四、政府信息公开行政复议和行政诉讼情况")),
    5: ("五、存在的主要问题及改进情况", ("五、存在的主要问题及改进措施", "五、存在的问题及改进情况")),
    6: ("六、其他需要报告的事项", ("六、其他需要报告的事项说明", "六、其他需要说明的事项")),
}


@dataclass(slots=True)
class Voice:
    """Who speaks and about which year: the substitutions shared by every template."""
    agency: str | None       # name used in the body (None: the report never names itself)
    self_ref: str            # 我局 / 本机关 / 我镇
    year: int | None         # None: the text must not reveal the year
    up: str                  # 县委、县政府
    portal: str
    topic: str
    spaced_years: bool = False   # "2025 年" as in text copied out of a PDF

    def fill(self, template: str, **extra) -> str:
        if self.year is None:
            y, py = "本年度", "上年度"
        elif self.spaced_years:
            y, py = f"{self.year} 年", f"{self.year - 1} 年"
        else:
            y, py = f"{self.year}年", f"{self.year - 1}年"
        text = template.format(A=self.agency or self.self_ref, S=self.self_ref, Y=y, PY=py,
                               UP=self.up, PORTAL=self.portal, TOPIC=self.topic, **extra)
        return text


def section_title(n: int, paraphrased: bool, rng: random.Random) -> str:
    official, variants = SECTION_TITLES[n]
    return rng.choice(variants) if paraphrased else official


def preamble(v: Voice, rng: random.Random) -> str:
    y = v.year
    period = (f"{y}年1月1日至{y}年12月31日" if y is not None else "本年度1月1日至12月31日")
    if v.spaced_years and y is not None:
        period = f"{y} 年 1 月 1 日至 {y} 年 12 月 31 日"
    r = rng.randrange(3)
    if r == 0:
        return ("根据《中华人民共和国政府信息公开条例》（国务院令第711号）规定，以及《国务院办公厅政府信息与政务公开办公室"
                "关于印发〈中华人民共和国政府信息公开工作年度报告格式〉的通知》（国办公开办函〔2021〕30号）要求编制本报告。"
                f"本报告所列数据的统计期限为{period}。")
    if r == 1:
        who = v.agency or "本机关"
        yr = "本年度" if y is None else (f"{y} 年" if v.spaced_years else f"{y}年")
        return (f"{who}{yr}政府信息公开工作年度报告，是根据《中华人民共和国政府信息公开条例》（以下简称条例）及省、市各级关于"
                "政府信息公开工作的有关规定编制而成。全文包括总体情况、主动公开政府信息情况、收到和处理政府信息公开申请情况、"
                "政府信息公开行政复议和行政诉讼情况、存在的主要问题及改进情况及其他需要报告的事项六个部分组成。"
                f"本报告中所列数据的统计期限为{period}。")
    return ("本报告根据《中华人民共和国政府信息公开条例》和国办公开办函〔2021〕30号文件要求编制，由总体情况、主动公开政府信息情况、"
            "收到和处理政府信息公开申请情况、政府信息公开行政复议和行政诉讼情况、存在的主要问题及改进情况、其他需要报告的事项组成。"
            f"本报告所列数据的统计期限为{period}。如对本报告有疑问，请与{v.agency or '本机关'}办公室联系。")


def overview(v: Voice, facts: dict, rng: random.Random) -> list[tuple[str, str]]:
    """Section 一 as (kind, text) pieces: kind "sub" (a subsection heading) or "para"."""
    n = facts["info_count"]
    tpl = rng.choice(PROACTIVE)
    names = list(dict.fromkeys(re.findall(r"\{(N\d)\}", tpl)))   # the breakdown adds up to N
    parts = dict(zip(names, _split_count(n, len(names), rng))) if names else {}
    pro = v.fill(tpl, N=n, **parts)
    if facts["new"] or facts["carried_over"]:
        cf = facts["carried_forward"]
        cf_text = f"，结转下年度继续办理{cf}件" if cf else ""
        req = v.fill(rng.choice(REQUESTS_SOME), NEW=facts["new"], CO=facts["carried_over"],
                     NP=facts["natural_person"], ORG=facts["new"] - facts["natural_person"],
                     CF_TEXT=cf_text)
    else:
        # Templates 0 and 2 also say there were no appeals: only when that is true.
        pool = REQUESTS_NONE if not facts.get("appeals") else (REQUESTS_NONE[1], REQUESTS_NONE[3])
        req = v.fill(rng.choice(pool))
    bodies = [pro, req, v.fill(rng.choice(MANAGEMENT)), v.fill(rng.choice(PLATFORM)),
              v.fill(rng.choice(SUPERVISION), T=rng.randint(1, 4))]
    heads = rng.choice(SUBHEADS)
    out: list[tuple[str, str]] = [("para", v.fill(rng.choice(INTRO)))]
    style = rng.randrange(3)
    if style == 2:   # all subsections inline in one paragraph (seed 001)
        out.append(("para", "".join(f"{h.rstrip('：')}。{b}" for h, b in zip(heads, bodies))))
        return out
    for h, b in zip(heads, bodies):
        if style == 0:
            out.append(("sub", h))
            out.append(("para", b))
        else:
            out.append(("para", f"{h.rstrip('：')}。{b}"))
    return out


def problems(v: Voice, rng: random.Random) -> list[tuple[str, str]]:
    p = v.fill(rng.choice(PROBLEMS))
    i = v.fill(rng.choice(IMPROVEMENTS))
    if rng.random() < 0.5:
        return [("sub", "（一）存在的主要问题"), ("para", p), ("sub", "（二）改进措施"), ("para", i)]
    return [("para", p), ("para", i)]


def other_matters(v: Voice, rng: random.Random) -> list[tuple[str, str]]:
    out = [("para", v.fill(rng.choice(OTHER)))]
    if rng.random() < 0.3 and v.agency is not None:
        out.append(("para", f"如需了解更多政府信息，请登录{v.portal}。"))
    return out


def table_omitted(table: str, v: Voice) -> str:
    return v.fill(TABLE_OMITTED[table])


def _split_count(n: int, k: int, rng: random.Random) -> list[int]:
    """n split into k non-negative parts that add up to n."""
    if k == 0:
        return []
    cuts = sorted(rng.randint(0, n) for _ in range(k - 1))
    bounds = [0, *cuts, n]
    return [bounds[i + 1] - bounds[i] for i in range(k)]


YEAR_RE = re.compile(r"(?:19|20)\d\d")
