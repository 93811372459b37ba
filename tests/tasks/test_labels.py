import pytest

from tasks.labels import match_row, normalize


@pytest.mark.parametrize("printed,key", [
    ("一、本年新收政府信息公开申请数量", "requests.new"),
    ("（一）予以公开", "requests.granted"),
    ("(二) 部分公开（区分处理的，只计这一情形，不计其他情形）", "requests.partly_granted"),
    ("2.其他法律法规规章禁止公开", "requests.denied_prohibited_by_law"),
    ("3.危及\"三安全一稳定\"", "requests.denied_security_stability"),
    ("3.危及“三安全一稳定”", "requests.denied_security_stability"),
    ("2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信", "requests.other_fee_unpaid"),
    ("(七) 总计", "requests.total"),
    ("3.其他", "requests.other_other"),
    ("四、结转下年度继续办理", "requests.carried_forward"),
    ("行政 规范性 文件", "proactive.normative_documents"),
    ("5.要求行政机关确认或重新出具已获取信息", "requests.rejected_confirmation"),
])
def test_variants_match(printed, key):
    assert match_row(printed).key == key


@pytest.mark.parametrize("printed", ["信息公开申请", "申请人情况", "其他结果", "信息内容", "",
                                     "本年度办理结果", "法人或其他组织"])
def test_non_rows_do_not_match(printed):
    assert match_row(printed).key is None


def test_normalize_strips_numbering_and_punctuation():
    assert normalize("（三）不予公开") == "不予公开"
    assert normalize(" 1. 属于 国家秘密 ") == "属于国家秘密"
    assert normalize("危及“三安全一稳定”") == "危及三安全一稳定"
