"""Sample reports as government CMS web pages.

The article (title + body with the three tables, rowspan/colspan as in the official template)
sits inside a CMS page shell: banner, navigation, breadcrumb, share buttons, a "related
reports" list of links, scripts and a footer (版权所有 / 主办单位 / 网站标识码). Variants seen on
real sites: the TRS-style `div.article_title` + `div.TRS_Editor` page (平潭), an old
table-layout page (article in a `<td>` of a layout table), a plain `<article>` page. Cells hold
numbers in nested `<p><span>`, blanks as `&nbsp;`, an empty `<td>` or `<p><span>&nbsp;</span></p>`,
labels broken by `<br>` or in several `<p>`s. Encodings: UTF-8 or GBK (declared gb2312/GBK, GB18030
bytes when a character is outside GBK), with or without a charset declaration, sometimes with a
BOM.
"""
from __future__ import annotations

import html
import random
from typing import Any

from tasks.synth.document import Block, Document, Table, TCell
from tasks.synth.truth import ReportTruth

SHELLS = ("trs", "table_layout", "article")
# (encoding, declared charset or None, BOM)
ENCODINGS = ((("utf-8", "utf-8", False), 0.35), (("utf-8", None, False), 0.15),
             (("utf-8", "utf-8", True), 0.05), (("gbk", "gb2312", False), 0.25),
             (("gbk", "GBK", False), 0.1), (("gbk", None, False), 0.1))
BLANKS = ("&nbsp;", "", "<p><span>&nbsp;</span></p>", "<p>&nbsp;</p>")


class HtmlRenderer:
    format = "html"
    ext = ".html"

    def choose_printing(self, rng: random.Random) -> dict[str, Any]:
        enc, charset, bom = rng.choices([e for e, _ in ENCODINGS],
                                        weights=[w for _, w in ENCODINGS])[0]
        return {
            "layout": None,
            "shell": rng.choice(SHELLS),
            "encoding": enc,
            "charset": charset,
            "bom": bom,
            "blank": rng.choice(BLANKS),
            "nested_spans": rng.random() < 0.7,
            "label_breaks": rng.random() < 0.5,      # 商业<br>企业 / 结果<p>纠正</p>
            "title_in_body": rng.random() < 0.25,    # the CMS shows the title inside the body
            "title_form": rng.choice((2, 2, 2, 1)),
            "fee_zero": rng.choice(("0", "0", "0", "0.00")),
            "text_seed": rng.randrange(2**31),
            "noise_seed": rng.randrange(2**31),
        }

    def can_plant(self, kind: str, printing: dict[str, Any]) -> bool:
        return kind != "cells.lost"          # a web page's table never loses a cell

    def can_drift(self, drift: str, printing: dict[str, Any]) -> bool:
        return drift != "label.row_cut"

    def render(self, t: ReportTruth, doc: Document) -> bytes:
        p = t.printing
        page = render_page(t, doc)
        enc = "utf-8" if p["encoding"] == "utf-8" else "gbk"
        try:
            data = page.encode(enc)
        except UnicodeEncodeError:
            enc = "gb18030"                  # GBK cannot hold every character
            data = page.encode(enc)
        t.encoding = ("utf-8-sig" if p["bom"] and enc == "utf-8" else enc)
        return (b"\xef\xbb\xbf" + data) if p["bom"] and enc == "utf-8" else data


# ---------------------------------------------------------------------------------- content
def _esc(s: str) -> str:
    return html.escape(s, quote=False)


def _cell_html(t: ReportTruth, c: TCell, rng: random.Random) -> str:
    p = t.printing
    if c.role == "value":
        if c.text == "":
            inner = p["blank"]
        elif p["nested_spans"]:
            inner = f'<p style="text-align:center"><span style="font-size:14px"><span>{_esc(c.text)}</span></span></p>'
        else:
            inner = _esc(c.text)
    else:
        text = c.text
        if p["label_breaks"] and c.role == "header" and 4 <= len(text) <= 6 and " " not in text:
            cut = len(text) // 2
            inner = (f"<p>{_esc(text[:cut])}</p><p>{_esc(text[cut:])}</p>" if rng.random() < 0.5
                     else f"{_esc(text[:cut])}<br/>{_esc(text[cut:])}")
        else:
            inner = f'<p style="text-indent:0em"><span>{_esc(text)}</span></p>'
    attrs = ""
    if c.rowspan > 1:
        attrs += f' rowspan="{c.rowspan}"'
    if c.colspan > 1:
        attrs += f' colspan="{c.colspan}"'
    style = ' style="border:1px solid windowtext;padding:0 4px"'
    return f"<td{attrs}{style} valign=\"middle\">{inner}</td>"


def table_html(t: ReportTruth, table: Table, rng: random.Random) -> str:
    rows = "".join("<tr>" + "".join(_cell_html(t, c, rng) for c in row) + "</tr>"
                   for row in table.rows)
    return ('<table border="1" cellspacing="0" cellpadding="0" align="center" '
            f'style="border-collapse:collapse"><tbody>{rows}</tbody></table>')


def _title(doc: Document) -> str:
    for b in doc.blocks:
        if b.kind == "title":
            return "".join(x.strip() for x in b.lines if x.strip())
    return ""


def article_body(t: ReportTruth, doc: Document, rng: random.Random) -> str:
    out: list[str] = []
    for b in doc.blocks:
        if b.kind == "title":
            if t.printing["title_in_body"]:
                out.append(f'<p style="text-align:center"><strong><span style="font-size:22px">'
                           f'{_esc(_title(doc))}</span></strong></p>')
        elif b.kind == "heading":
            out.append(f'<p style="text-indent:2em"><strong>{_esc(b.text)}</strong></p>')
        elif b.kind == "table":
            assert b.table is not None
            out.append(table_html(t, b.table, rng))
        else:
            out.append(f'<p style="text-indent:2em">{_esc(b.text)}</p>')
    return "\n".join(out)


# ------------------------------------------------------------------------------------ shell
def _site(t: ReportTruth) -> str:
    """The site that publishes the report: the county/city government portal."""
    name = t.agency_full
    for suffix in ("人民政府",):
        if name.endswith(suffix):
            return name
    for cut in ("县", "市", "区"):
        i = name.find(cut)
        if 0 < i < len(name) - 1:
            return name[: i + 1] + "人民政府"
    return "政府门户网站"


def _nav(rng: random.Random) -> str:
    items = ["首页", "政务公开", "政府信息公开", "政务服务", "互动交流", "走进本地", "专题专栏",
             "政策文件", "政策解读", "通知公告", "人事信息", "财政资金"]
    rng.shuffle(items)
    return "".join(f'<li><a href="/col/{i}/">{x}</a></li>' for i, x in enumerate(items))


def _related(t: ReportTruth, rng: random.Random) -> str:
    years = [t.report_year - d for d in (1, 2, 3)]
    return "".join(f'<li><a href="/zfxxgk/nb/{y}/t{rng.randrange(10**6)}.html">'
                   f'{y}年政府信息公开工作年度报告</a></li>' for y in years)


def _scripts() -> str:
    return ("<script>var _hmt=_hmt||[];(function(){var s=document.createElement('script');"
            "s.src='/js/stat.js';document.body.appendChild(s);})();"
            "document.write('<div class=\"tip\">政府信息公开工作年度报告</div>');</script>")


def _footer(t: ReportTruth, rng: random.Random) -> str:
    site = _site(t)
    return (f'<div class="footer"><p><a href="/about/">关于我们</a> | <a href="/map/">网站地图</a> | '
            f'<a href="/contact/">联系我们</a></p><p>版权所有：{site} 主办单位：{site}办公室 '
            f'网站标识码：{rng.randrange(10**9, 10**10)} 备案号：湘ICP备{rng.randrange(10**7, 10**8)}号</p>'
            f'<p>地址：人民路{rng.randrange(1, 300)}号 邮编：{rng.randrange(410000, 429999)} '
            f'建议使用1366*768分辨率浏览</p></div>')


def render_page(t: ReportTruth, doc: Document) -> str:
    p = t.printing
    rng = random.Random(p["noise_seed"])
    title = _title(doc)
    site = _site(t)
    body = article_body(t, doc, rng)
    pub = f"{(t.report_year or 2024) + 1}-01-{rng.randrange(10, 31):02d}"
    meta = ""
    if p["charset"]:
        meta = (f'<meta charset="{p["charset"]}">' if rng.random() < 0.5 else
                f'<meta http-equiv="Content-Type" content="text/html; charset={p["charset"]}">')
    head = (f"<!DOCTYPE html><html><head>{meta}<meta name=\"viewport\" content=\"width=device-width\">"
            f'<meta name="SiteName" content="{_esc(site)}"><meta name="ColumnName" content="政府信息公开年报">'
            + (f'<meta name="ArticleTitle" content="{_esc(title)}">' if title else "")
            + f"<title>{_esc(title or '政府信息公开年报')}_{_esc(site)}</title>"
            '<link rel="stylesheet" href="/css/style.css"><style>.nav li{float:left}</style></head>')
    banner = (f'<div class="header"><div class="logo"><img src="/img/logo.png" alt="{_esc(site)}"></div>'
              f'<div class="search"><form action="/search"><input name="q" value="请输入关键字">'
              f'<button>搜索</button></form></div></div><div class="nav"><ul>{_nav(rng)}</ul></div>')
    crumb = ('<div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="/zfxxgk/">政府信息公开</a>'
             ' &gt; <a href="/zfxxgk/nb/">政府信息公开年报</a></div>')
    info = (f'<div class="info"><span>来源：{_esc(site)}办公室</span> <span>发布时间：{pub}</span> '
            '<span>浏览次数：<script>document.write(Math.round(Math.random()*1000))</script></span>'
            ' <span class="share">分享到：<a href="#">微信</a><a href="#">微博</a></span></div>')
    related = f'<div class="related"><h4>相关链接</h4><ul>{_related(t, rng)}</ul></div>'
    show_title = not p["title_in_body"] and title
    if p["shell"] == "trs":
        article = (f'<div class="article_component">'
                   + (f'<div class="article_title_group"><div class="article_title">{_esc(title)}</div></div>'
                      if show_title else "")
                   + f'{info}<div class="article_content"><div class="TRS_Editor">{body}</div></div>'
                   f'<div class="print"><a href="javascript:window.print()">【打印本页】</a>'
                   f'<a href="javascript:window.close()">【关闭窗口】</a></div></div>{related}')
        page_body = f'{banner}{crumb}<div class="main"><div class="content">{article}</div></div>'
    elif p["shell"] == "table_layout":
        article = (f'<table width="1000" align="center" cellpadding="0" cellspacing="0"><tr>'
                   f'<td width="200" valign="top"><div class="left"><ul>{_nav(rng)}</ul></div></td>'
                   f'<td valign="top"><table width="100%"><tr><td class="title" align="center">'
                   + (f"<h1>{_esc(title)}</h1>" if show_title else "")
                   + f"</td></tr><tr><td>{info}</td></tr><tr><td class=\"bt_content\" id=\"zoom\">"
                   f"{body}</td></tr></table></td></tr></table>{related}")
        page_body = f"{banner}{crumb}{article}"
    else:
        article = (f'<main><article>'
                   + (f"<header><h1>{_esc(title)}</h1></header>" if show_title else "")
                   + f'{info}<section class="content">{body}</section></article>'
                   f'<aside>{related}</aside></main>')
        page_body = f"{banner}{crumb}{article}"
    return (f"{head}<body>{_scripts()}{page_body}{_footer(t, rng)}"
            '<div style="display:none"><a href="/login">后台管理</a></div></body></html>')
