from __future__ import annotations

import duckdb
import pytest

from tasks.regions import (load_regions, regions, regions_frame, resolve_region,
                           short_name)
from warehouse import SCHEMA_DIR


@pytest.mark.parametrize("text, code", [
    ("湘潭县科技和工业信息化局", "430321"),
    ("湘乡市科技和工业信息化局", "430381"),        # not 江西萍乡湘东区 (360313)
    ("湛河区工信局", "410411"),
    ("淮安市人民政府", "320800"),
    ("淮安市洪泽区人民政府", "320813"),
    ("平潭综合实验区管理委员会", "350128"),
    ("福州市鼓楼区人民政府", "350102"),
    ("湘潭县数据局", "430321"),
    ("湖南省湘潭市湘潭县人民政府", "430321"),
    ("湘潭市湘乡市教育局", "430381"),
    ("中共湘潭市委办公室", "430300"),
    ("长春市朝阳区人民政府", "220104"),
    ("北京市朝阳区人民政府", "110105"),
    ("湖南省人民政府办公厅", "430000"),
    ("仙桃市人民政府", "429004"),                # 省直辖县级
    ("重庆市城口县财政局", "500229"),
    ("广西壮族自治区人民政府", "450000"),
    ("南县人民政府", "430921"),                  # a 2-character name on its own
    ("湖南省南县农业农村局", "430921"),
])
def test_resolves_the_most_specific_division(text, code):
    m = resolve_region(text)
    assert m.code == code, m
    assert m.name == regions()[code].name
    assert m.level == regions()[code].level


def test_full_name_and_reason():
    m = resolve_region("湘潭县科技和工业信息化局")
    assert (m.full_name, m.reason) == ("湖南省湘潭市湘潭县", "full")
    assert resolve_region("福州市鼓楼区人民政府").reason == "parent"
    assert resolve_region("平潭综合实验区").reason == "alias"


def test_short_form_only_when_unambiguous():
    m = resolve_region("湛河工信局")                 # 湛河区 without its suffix
    assert (m.code, m.reason) == ("410411", "short")
    assert resolve_region("石柱县民政局").code == "500240"   # 石柱土家族自治县
    # 湘潭 is both 湘潭市 and 湘潭县: never resolved from the short form alone
    m = resolve_region("湘潭高新区管委会")
    assert m.code is None and m.reason == "ambiguous"
    assert m.candidates == ["430300", "430321"]


def test_longest_match_wins_over_a_short_form_inside_it():
    # "湘潭" inside "湘潭县" must not make it ambiguous with 湘潭市
    m = resolve_region("湘潭县")
    assert (m.code, m.candidates) == ("430321", ["430321"])
    assert resolve_region("湘潭市").code == "430300"


def test_ambiguous_name_gives_candidates():
    m = resolve_region("鼓楼区人民政府")
    assert m.code is None and m.reason == "ambiguous"
    assert m.candidates == ["320106", "320302", "350102", "410204"]
    assert resolve_region("朝阳区教育局").candidates == ["110105", "220104"]


def test_province_hint_disambiguates_inside_the_province_only():
    m = resolve_region("鼓楼区人民政府", province_hint="35")
    assert (m.code, m.reason) == ("350102", "hint")
    assert resolve_region("鼓楼区人民政府", province_hint="350000").code == "350102"
    # no 鼓楼区 in 湖南: still ambiguous
    m = resolve_region("鼓楼区人民政府", province_hint="43")
    assert m.code is None and m.reason == "ambiguous"
    # a unique name elsewhere is still that name
    assert resolve_region("湛河区工信局", province_hint="43").code == "410411"


def test_unknown():
    for text in ("科技和工业信息化局", "本机关", "", None):
        m = resolve_region(text)
        assert (m.code, m.reason, m.candidates) == (None, "unknown", [])


def test_generic_names_need_a_parent():
    # 城区 / 郊区 are divisions in 山西 and elsewhere but also common words
    assert resolve_region("湘潭县城区管理局").code == "430321"
    assert resolve_region("城区管理局").code is None
    assert resolve_region("阳泉市城区人民政府").code == "140302"


def test_department_words_are_not_places():
    # 公安县, 资源县, 振兴区, 合作市 exist, but these are the words of department names
    for text in ("公安局", "市公安局", "自然资源局", "人力资源和社会保障局", "乡村振兴局",
                 "供销合作社联合社", "东方红林场"):
        m = resolve_region(text)
        assert m.code is None, (text, m)
    assert resolve_region("湘潭县公安局").code == "430321"
    assert resolve_region("东方市人民政府").code == "469007"
    # a lone weak match counts only where a place name stands: at the start
    assert resolve_region("中共湛河区委").code == "410411"
    assert resolve_region("全省南县工作组").code is None


def test_short_names():
    assert short_name("湘潭县") == "湘潭"
    assert short_name("石柱土家族自治县") == "石柱"
    assert short_name("积石山保安族东乡族撒拉族自治县") == "积石山"
    assert short_name("黔东南苗族侗族自治州") == "黔东南"
    assert short_name("广西壮族自治区") == "广西"
    assert short_name("内蒙古自治区") == "内蒙古"
    assert short_name("赵县") is None          # a 1-character stem is never a short form


def test_hierarchy_rules():
    r = regions()
    assert (r["430321"].province_code, r["430321"].city_code, r["430321"].parent_code) == \
        ("430000", "430300", "430300")
    assert r["430321"].full_name == "湖南省湘潭市湘潭县"
    # municipalities: no real city level, the municipality is the city
    assert (r["110105"].city_code, r["110105"].parent_code, r["110105"].note) == \
        ("110000", "110000", "municipality")
    assert r["110000"].city_code == "110000" and r["110000"].level == "province"
    assert r["500229"].full_name == "重庆市城口县"
    # 省直辖县级: its own city level, parent the province
    assert (r["429004"].city_code, r["429004"].parent_code, r["429004"].note) == \
        ("429004", "420000", "province_direct")
    assert r["429004"].full_name == "湖北省仙桃市"
    # a plain province has no city
    assert r["430000"].city_code is None and r["430000"].parent_code is None
    # every parent exists
    assert all(x.parent_code is None or x.parent_code in r for x in r.values())


def test_regions_dimension_loads_once():
    con = duckdb.connect()
    con.execute((SCHEMA_DIR / "007_regions.sql").read_text(encoding="utf-8"))
    n = load_regions(con)
    assert n == regions_frame().height == len(regions())
    assert con.execute("SELECT count(*) FROM regions").fetchone()[0] == n
    row = con.execute("SELECT name, level, province_code, city_code, full_name, "
                      "is_municipality FROM regions WHERE code = '110105'").fetchone()
    assert row == ("朝阳区", "county", "110000", "110000", "北京市朝阳区", True)
    before = con.execute("SELECT * FROM regions ORDER BY code").fetchall()
    load_regions(con)                                 # unchanged data: no rewrite
    assert con.execute("SELECT * FROM regions ORDER BY code").fetchall() == before
    con.execute("DELETE FROM regions WHERE code = '430321'")
    load_regions(con)                                 # differs: refilled
    assert con.execute("SELECT * FROM regions ORDER BY code").fetchall() == before
    con.close()
