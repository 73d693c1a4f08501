"""The words of a city-management report: what citizens say on 12345 and grid workers file.

The demo's first generator gave each category three fixed sentences, so a classifier trained
on history learned nothing but those sentences. Here each text is composed from independent
parts drawn per event, so that the number of distinct texts grows with the history:

* an opening (来电人反映 / 你好 / 我要投诉 / nothing ...),
* a time (凌晨两点 / 每天下班 / 最近一个月 ...),
* a place from the event's own building or road (estate, building name or road) with a
  position word (门口 / 楼下 / 对面 ...),
* one of many problem clauses of the category, written colloquially, indirectly (describing
  what is seen rather than naming the category) or in the official term,
* a consequence and an intensifier (严重影响休息 / 已经反映好几次了 / ！！),
* for grid patrols, the terse official style (巡查发现：…，已拍照上报);
  for sensor alarms, the device's words,
* in ~8 % a second, lesser problem of another category (the label stays the main one),
* in ~6 % an input-method slip: a homophone or near-shape substitution (垃圾 → 拉圾).

Everything is vectorised over numpy string arrays (one pass per category and part), so the
520,000 events of the full-scale demo take seconds, and the result depends only on the rng.
"""

from __future__ import annotations

import numpy as np

# Problem clauses per category: colloquial, indirect and official. None of these is a
# sentence of the hand-written evaluation set (tests/data/dispatch/), which is held out.
PROBLEMS: dict[str, tuple[str, ...]] = {
    "占道经营": (
        "有人摆地摊", "流动摊贩推着车在路边叫卖", "小贩把摊位摆在人行道上", "有人占道摆卖",
        "卖水果的三轮车停在路边做生意", "夜市摊点占了半条路", "有人铺块布在地上卖东西",
        "早餐摊摆在路边", "卖菜的把筐子摆到马路上", "有几个卖小吃的推车堵在路口",
        "占道经营", "流动商贩聚集摆卖", "有人在天桥底下摆摊", "烧烤摊支起桌椅在路边卖",
        "有人开着面包车在路边卖东西", "地摊一排排的", "有摊贩在公交站旁边卖东西",
    ),
    "出店经营": (
        "店铺把货摆到门口", "商铺出店经营", "店家把桌椅摆到店外", "门店超出门窗经营",
        "饭店在门口外面摆桌子", "店里的货物堆在门前人行道", "修车店在店门口修车",
        "商家在门口搭展台促销", "店铺占用门前通道放货", "商户把冰柜搬到店外",
        "店门口摆满了货架", "餐馆在店外摆了好几桌", "五金店货物堆出店外",
        "门店越门经营", "服装店把衣架推到门外",
    ),
    "垃圾暴露": (
        "垃圾堆了好几天没人收", "垃圾桶满了溢出来", "有人乱倒垃圾", "生活垃圾暴露",
        "建筑垃圾堆在路边", "有人偷倒装修垃圾", "旧沙发床垫扔在路边", "垃圾站外面全是垃圾袋",
        "路边一堆垃圾发臭", "垃圾没清运", "大件垃圾乱放", "巷子里垃圾成堆",
        "垃圾臭气熏天苍蝇很多", "垃圾桶周边散落垃圾", "渣土废料乱倒",
    ),
    "积水": (
        "路面积水", "一下雨就水浸街", "积水很深车过不去", "下穿通道积水",
        "雨水口堵了排不出去", "地下车库进水了", "水淹到小腿", "低洼路段积水",
        "雨水篦子堵塞导致积水", "暴雨后积水一直不退", "马路变成河了", "下水道冒水",
        "路口积了一大片水", "涵洞被水淹了", "排水不畅积水严重",
    ),
    "噪音扰民": (
        "半夜施工很吵", "装修电钻声一直响", "酒吧音乐声太大", "广场舞音响吵死了",
        "工地夜间打桩", "噪音扰民", "KTV声音传出来睡不着", "商铺大喇叭循环播放广告",
        "有人半夜喝酒划拳", "夜间施工噪音", "空调外机嗡嗡响", "改装车轰油门炸街",
        "楼上天天砸东西拖家具", "机器轰隆隆响个不停", "音响外放声音很大",
    ),
    "违章停车": (
        "车辆乱停乱放", "有车停在人行道上", "车子违停堵住路口", "机动车违停",
        "有辆车停了好久没动像僵尸车", "双排停车堵路", "大货车停在路边过夜",
        "车停在斑马线上", "车库门口被车堵住了", "路边违停一长排", "车停在盲道上",
        "网约车在路边排队乱停", "无牌车长期停放", "车辆占用车道停放", "违停车辆挡住出口",
    ),
    "乱搭乱建": (
        "楼顶加建了铁皮房", "有人私搭棚子", "天台违建", "阳台封出去一截",
        "有人在空地上盖房子", "违规搭建构筑物", "私自扩建外墙", "在公共区域搭了个棚",
        "用彩钢板围起来搭仓库", "楼顶在加盖一层", "违法建设", "私搭雨棚",
        "在走廊装铁门圈地", "有人砌墙占地", "绿地上搭建简易房",
    ),
    "道路破损": (
        "路面有个大坑", "人行道砖松动", "路面塌陷", "道路开裂", "路面坑坑洼洼",
        "人行道板破损", "盲道砖碎了", "路面坑槽", "路面沉陷", "路牙石被撞坏",
        "路面破了个洞", "水泥路面烂了露出钢筋", "路面高低不平", "路面有条长裂缝",
        "地砖翘起来绊人",
    ),
    "井盖缺失": (
        "井盖不见了", "井盖破损", "井盖翘起来了", "井盖松动车一压就响", "井口敞开没有盖",
        "井盖缺失", "井盖移位", "雨水篦子被偷了", "窨井盖碎了", "井盖下沉",
        "下水道盖子丢了", "井盖被压坏了", "井盖没盖好露出个洞", "电力井盖破了",
    ),
    "绿化损坏": (
        "树被人砍了", "绿化带被压坏", "草皮被踩秃了", "树枝断了挂着", "大树倒了",
        "花坛被撞烂", "绿化带被破坏", "有人挖走花草", "行道树被剥皮", "树木倒伏",
        "草坪被占用种菜", "绿篱被铲掉", "树被钉了广告牌", "树修剪过度只剩树干",
        "绿地上全是车辙",
    ),
    "消防通道堵塞": (
        "消防通道被堵", "楼道堆满杂物", "安全出口被锁了", "消防车道被车占了",
        "消防通道堆物", "疏散通道被货物堵住", "楼梯间堆放杂物", "消防登高面停满车",
        "消防车道被装了地锁", "楼道里停电动车充电", "消防通道摆满东西",
        "安全出口被堵", "消防栓被挡住", "消防门打不开被杂物顶住",
    ),
    "油烟污染": (
        "油烟直排", "饭店油烟熏到家里", "烧烤烟很大", "餐馆没装油烟净化器",
        "排烟管对着窗户", "油烟扰民", "露天烧烤油烟", "厨房油烟往居民楼排",
        "一做饭全是油烟味", "油烟净化器没开", "烟囱冒黑烟", "大排档炒菜油烟很重",
        "油烟把墙熏黑了", "餐厅烟道坏了油烟外泄",
    ),
    "共享单车乱停放": (
        "共享单车乱停", "单车堆成山", "共享单车堵住出口", "单车停在盲道上",
        "共享单车堆积", "单车倒了一地", "共享电单车乱放", "小黄车挡住路",
        "共享单车占满人行道", "单车停到马路中间", "坏单车扔在绿化带",
        "单车乱停放", "共享单车无序停放", "一堆单车横七竖八",
    ),
    "违规张贴小广告": (
        "墙上贴满小广告", "电线杆上贴广告", "有人乱张贴", "墙面喷了办证电话",
        "楼道里全是开锁广告", "牛皮癣广告", "小广告张贴", "有人塞小卡片",
        "公交站牌被贴了广告", "墙上乱涂乱画写电话号码", "电梯里贴满装修广告",
        "配电箱上贴满疏通广告", "地面被喷了广告字", "乱张贴小广告撕了又贴",
    ),
}

# What follows from the problem, per category (optional).
DETAILS: dict[str, tuple[str, ...]] = {
    "占道经营": ("行人只能走车道", "影响通行", "城管来了就跑走了又回来", "路都堵了"),
    "出店经营": ("人行道都被占了", "行人走不过去", "每天都摆出来", "影响市容"),
    "垃圾暴露": ("气味很难闻", "老鼠到处跑", "影响环境卫生", "一直没人清理"),
    "积水": ("车辆熄火", "行人没法走", "水越来越深", "商铺都进水了"),
    "噪音扰民": ("根本睡不着", "孩子老人没法休息", "严重影响休息", "吵了一整晚"),
    "违章停车": ("路都堵死了", "救护车都进不来", "行人没法过", "贴了罚单也不走"),
    "乱搭乱建": ("存在安全隐患", "还在继续施工", "占用公共空间", "挡住了采光"),
    "道路破损": ("有人摔倒了", "骑车很危险", "差点爆胎", "越来越大了"),
    "井盖缺失": ("很危险", "小孩掉下去怎么办", "晚上看不见", "已经有人踩空"),
    "绿化损坏": ("好好的绿化毁了", "影响市容", "挡住了路", "很可惜"),
    "消防通道堵塞": ("着火了消防车进不来", "存在火灾隐患", "出了事跑不出去", "物业不管"),
    "油烟污染": ("衣服都不敢晒", "窗户都不敢开", "呛得咳嗽", "家里全是味道"),
    "共享单车乱停放": ("行人走不过去", "企业也不来清理", "推轮椅过不去", "挡住了出入口"),
    "违规张贴小广告": ("撕了又贴", "很难看", "影响市容", "清理不干净"),
}

# Grid workers' terse findings and what they did.
TERSE: dict[str, tuple[str, ...]] = {
    "占道经营": ("流动摊贩占道经营", "占道摆卖{n}处", "无证摊点占道"),
    "出店经营": ("商铺出店经营{n}户", "店外摆放货物", "超门窗经营"),
    "垃圾暴露": ("生活垃圾暴露约{n}立方", "垃圾桶满溢", "建筑垃圾乱堆放"),
    "积水": ("路面积水约{n}厘米", "低洼处积水", "雨水篦子堵塞积水"),
    "噪音扰民": ("施工噪声超标", "商铺音响外放", "夜间施工扰民"),
    "违章停车": ("机动车违停{n}辆", "车辆占用人行道停放", "僵尸车长期停放"),
    "乱搭乱建": ("违法搭建{n}处", "楼顶违规加建", "私搭构筑物"),
    "道路破损": ("路面坑槽{n}处", "人行道板破损", "路面沉陷约{n}厘米"),
    "井盖缺失": ("井盖缺失{n}处", "井盖破损", "井盖移位"),
    "绿化损坏": ("绿化带破坏", "行道树损坏{n}株", "树木倒伏"),
    "消防通道堵塞": ("消防通道堆物", "消防车道被占用", "安全出口堵塞"),
    "油烟污染": ("餐饮油烟直排", "未安装油烟净化设施", "露天烧烤"),
    "共享单车乱停放": ("共享单车堆积约{n}辆", "单车占用盲道", "单车无序停放"),
    "违规张贴小广告": ("小广告张贴{n}处", "墙面喷涂广告", "乱张贴乱涂写"),
}

# What a sensor alarm says (only categories with sensors).
SENSOR: dict[str, tuple[str, ...]] = {
    "积水": ("水位超警戒", "积水监测报警", "水浸传感器报警"),
    "噪音扰民": ("噪声监测超标", "声级超限报警"),
    "井盖缺失": ("井盖位移报警", "井盖倾斜告警", "井盖开启报警"),
    "油烟污染": ("油烟浓度超标", "油烟在线监测报警"),
}

OPENINGS = ("", "", "", "市民来电反映：", "来电人反映", "市民称", "你好，", "我要投诉，",
            "投诉：", "麻烦管一下，", "反映一个问题，", "请问有人管吗，", "举报：",
            "有市民反映", "业主反映")
TIMES = ("", "", "", "", "每天晚上", "今天早上", "凌晨两三点", "最近一个月", "周末",
         "下班的时候", "中午", "这几天", "昨晚十一点多", "一直以来", "早上七点", "刚才")
POSITIONS = ("门口", "楼下", "附近", "旁边", "对面", "路边", "里面", "路口", "", "后面")
INTENSIFIERS = ("", "", "", "，请尽快处理", "，已经反映好几次了", "！！", "，太过分了",
                "，希望有关部门管一管", "，没人管", "，谢谢", "。", "，拜托快点来人")
GRID_PREFIX = ("巡查发现：", "网格员上报：", "", "巡查中发现")
GRID_ACTION = ("", "，已拍照上报", "，已劝导", "，已通知责任单位", "，请相关部门处置",
               "，已责令整改")
SENSOR_PREFIX = ("设备报警 ", "监测点：", "")
# Input-method slips: homophones and near shapes that people type and do not correct.
SLIPS = (("垃圾", "拉圾"), ("噪音", "燥音"), ("井盖", "井该"), ("广告", "广高"),
         ("积水", "级水"), ("停车", "挺车"), ("油烟", "油咽"), ("单车", "单车车"),
         ("违建", "违见"), ("通道", "通到"), ("摆摊", "摆滩"), ("绿化", "绿华"),
         ("破损", "破顺"), ("施工", "施公"))


def _pick(opts: tuple[str, ...], rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array(opts, dtype=object)[rng.integers(0, len(opts), n)]


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    # Object arrays of Python str: elementwise + is several times faster here than
    # numpy's fixed-width string ufuncs, whose widths grow with every part.
    out = np.asarray(parts[0], dtype=object)
    for p in parts[1:]:
        out = out + p
    return out


def _fill_n(text: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace ``{n}`` with a small count."""
    nums = rng.integers(2, 40, len(text))
    return np.array([t.replace("{n}", str(k)) if "{n}" in t else t
                     for t, k in zip(text, nums, strict=True)], dtype=object)


def compose(categories: tuple[str, ...], cat_idx: np.ndarray, source: np.ndarray,
            place: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The report text of each event (a numpy array of str).

    ``categories`` names the categories ``cat_idx`` indexes; ``source`` is 0 (12345
    hotline), 1 (grid patrol) or 2 (sensor alarm); ``place`` is a short place name of the
    event (estate, building or road; may be empty).
    """
    n = len(cat_idx)
    place = np.asarray(place).astype(object)
    problem = np.empty(n, dtype=object)
    detail = np.empty(n, dtype=object)
    terse = np.empty(n, dtype=object)
    sensor = np.empty(n, dtype=object)
    second = np.empty(n, dtype=object)
    other = (cat_idx + rng.integers(1, len(categories), n)) % len(categories)
    for i, name in enumerate(categories):
        m = cat_idx == i
        k = int(m.sum())
        problem[m] = _pick(PROBLEMS[name], rng, k)
        detail[m] = _pick(DETAILS[name], rng, k)
        terse[m] = _pick(TERSE[name], rng, k)
        sensor[m] = _pick(SENSOR.get(name, PROBLEMS[name][:3]), rng, k)
        mo = other == i
        second[mo] = _pick(PROBLEMS[name], rng, int(mo.sum()))

    has_place = (place != "") & (rng.random(n) < 0.85)
    where = np.where(has_place, _cat(place, _pick(POSITIONS, rng, n)), "")
    when = _pick(TIMES, rng, n)
    detail = np.where(rng.random(n) < 0.45, _cat("，", detail), "")
    also = np.where(rng.random(n) < 0.08,
                    _cat(_pick(("，另外", "，还有", "，顺便说一下", "，而且"), rng, n), second), "")
    # Two orders: "where, when, what" and "what, at where".
    r = rng.random(n)
    body = np.where(r < 0.6, _cat(where, when, problem),
                    np.where(where != "", _cat(when, problem, "，在", where), _cat(when, problem)))
    hotline = _cat(_pick(OPENINGS, rng, n), body, detail, also, _pick(INTENSIFIERS, rng, n))
    patrol = _cat(_pick(GRID_PREFIX, rng, n), where, _fill_n(terse, rng),
                  _pick(GRID_ACTION, rng, n))
    alarm = _cat(_pick(SENSOR_PREFIX, rng, n), sensor, np.where(place != "", _cat(" ", place), ""))
    text = np.where(source == 0, hotline, np.where(source == 1, patrol, alarm))

    # ~6 % carry one input-method slip: the first listed word the text contains.
    for j in np.flatnonzero(rng.random(n) < 0.06):
        t = text[j]
        for old, new in SLIPS:
            if old in t:
                text[j] = t.replace(old, new, 1)
                break
    return text.astype("U")
