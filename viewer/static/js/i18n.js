// Interface strings in Chinese and English. Each view module adds its own with
// addStrings({zh: {...}, en: {...}}) (prefix the keys with the view: 'net.route').
// In HTML: data-i18n (text), data-i18n-placeholder, data-i18n-title and
// data-i18n-label (aria-label) name a key; applyI18n(root) fills them in.

const LANG_ITEM = 'onemap.lang';
const STRINGS = { zh: {}, en: {} };
let current = localStorage.getItem(LANG_ITEM) === 'en' ? 'en' : 'zh';
const listeners = new Set();

/** The string of ``key`` in the current language (the key itself when none). */
export function t(key) {
  return STRINGS[current][key] ?? STRINGS.zh[key] ?? key;
}

/** The current language: 'zh' or 'en'. */
export function lang() { return current; }

/** Merge strings: ``{zh: {key: text}, en: {key: text}}``. */
export function addStrings(strings) {
  for (const l of Object.keys(STRINGS)) Object.assign(STRINGS[l], (strings && strings[l]) || {});
}

/** Fill in every data-i18n* attribute under ``root`` (default: the document). */
export function applyI18n(root = document) {
  const all = (sel) => [...(root.matches?.(sel) ? [root] : []), ...root.querySelectorAll(sel)];
  all('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  all('[data-i18n-placeholder]').forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  all('[data-i18n-title]').forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  all('[data-i18n-label]').forEach((el) => { el.setAttribute('aria-label', t(el.dataset.i18nLabel)); });
}

/** Switch the language, re-label the document and tell the listeners. */
export function setLang(l) {
  current = l === 'en' ? 'en' : 'zh';
  localStorage.setItem(LANG_ITEM, current);
  document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en';
  applyI18n(document);
  for (const fn of [...listeners]) fn(current);
}

/** Call ``fn(lang)`` after every language switch; returns the unsubscribe function. */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export const i18n = { t, lang, setLang, addStrings, applyI18n, onLangChange };
export default i18n;

addStrings({
  zh: {
    app_title: '罗湖一张图', search_ph: '搜索地址，如：东门街道', search_label: '搜索地址', key_ph: 'API 密钥',
    key_label: 'API 密钥', sign_in: '登录', sign_out: '退出', menu: '显示或隐藏面板', lang_switch: 'Switch to English',
    role_label: '当前角色', panel_label: '功能面板', tabs_label: '视图', close: '关闭', time_label: '数据时点',
    tab_layers: '图层', tab_blocks: '网格', tab_industry: '产业空间', tab_events: '事件', tab_renewal: '更新评估',
    blocks_show: '显示网格统计', metric: '指标', m_population: '人口', m_enterprises: '企业', m_events: '事件',
    m_vacancy: '产业空置率', resolution: 'H3 分辨率', blocks_hint: '点击网格查看画像', min_area: '最小面积 m²',
    max_area: '最大面积 m²', use: '用途', all: '全部', max_rent: '最高租金 元/m²·月', min_vacancy: '最低空置率',
    category: '类别', from: '开始', to: '结束', draw_hint: '点击地图绘制多边形，双击或点“完成”结束',
    draw: '绘制区域', finish: '完成', clear: '清除', download_report: '下载报告', as_of: '时点',
    portrait: '网格画像', population: '人口', households: '户数', enterprises: '企业', employees: '从业人员',
    buildings: '楼栋', events12: '近12月事件', age: '年龄结构', industry: '行业构成', event_trend: '事件类别',
    vacancy: '产业空置率', impact: '影响评估', area_km2: '面积 km²', floor_area: '建筑面积 m²', persons: '人口',
    houses: '房屋', facilities: '公共设施', ind_spaces: '产业空间', affected: '受影响楼栋', spaces: '处产业空间',
    signin_failed: '密钥无效', events_need_key: '事件图层需要登录部门账号', suppressed: '小于 k 的人数已隐藏',
    no_result: '无结果', rent: '租金', area: '面积', opacity: '不透明度', show_layer: '显示图层',
    tab_perception: '感知预警', active_alerts: '当前告警', alerts_need_key: '实时告警需要应急或管理员密钥',
    legend: '图例', lg_blocks: '网格统计', lg_events: '事件密度', lg_events_note: '核密度，相对值',
    lg_industry_vacancy: '产业空间 · 空置率', lg_industry_rent: '产业空间 · 租金', u_persons: '人', u_enterprises: '家',
    u_events: '件', u_percent: '%', u_rent: '元/m²·月', lg_no_data: '无数据或 <k', lg_fades: '放大后渐隐，见楼栋',
    lg_low: '低', lg_high: '高', lg_sensors: '传感器告警', lg_alert0: '正常', lg_alert1: '一级', lg_alert2: '二级',
    lg_alert3: '三级', lg_alert_area: '告警影响范围', lg_selection: '选择与分析', map_label: '罗湖区地图', draw_area: '绘制的区域',
  },
  en: {
    app_title: 'Luohu OneMap', search_ph: 'Search an address', search_label: 'Search an address', key_ph: 'API key',
    key_label: 'API key', sign_in: 'Sign in', sign_out: 'Sign out', menu: 'Show or hide the panel', lang_switch: '切换到中文',
    role_label: 'Current role', panel_label: 'Tools', tabs_label: 'Views', close: 'Close', time_label: 'Date of the data',
    tab_layers: 'Layers', tab_blocks: 'Blocks', tab_industry: 'Industry', tab_events: 'Events', tab_renewal: 'Renewal',
    blocks_show: 'Show block statistics', metric: 'Metric', m_population: 'Population', m_enterprises: 'Enterprises',
    m_events: 'Events', m_vacancy: 'Industrial vacancy', resolution: 'H3 resolution', blocks_hint: 'Click a block for its portrait',
    min_area: 'Min area m²', max_area: 'Max area m²', use: 'Use', all: 'All', max_rent: 'Max rent', min_vacancy: 'Min vacancy',
    category: 'Category', from: 'From', to: 'To', draw_hint: 'Click the map to draw a polygon; double-click or Finish to end',
    draw: 'Draw area', finish: 'Finish', clear: 'Clear', download_report: 'Download report', as_of: 'As of',
    portrait: 'Block portrait', population: 'Population', households: 'Households', enterprises: 'Enterprises',
    employees: 'Employees', buildings: 'Buildings', events12: 'Events (12 mo)', age: 'Age structure',
    industry: 'Industry mix', event_trend: 'Event categories', vacancy: 'Industrial vacancy', impact: 'Impact',
    area_km2: 'Area km²', floor_area: 'Floor area m²', persons: 'Persons', houses: 'Houses', facilities: 'Facilities',
    ind_spaces: 'Industrial spaces', affected: 'Affected buildings', spaces: 'industrial spaces',
    signin_failed: 'Unknown API key', events_need_key: 'Events need a department key', suppressed: 'counts below k are hidden',
    no_result: 'No result', rent: 'Rent', area: 'Area', opacity: 'Opacity', show_layer: 'Show layer',
    tab_perception: 'Perception', active_alerts: 'Active alerts', alerts_need_key: 'Live alerts need an emergency or admin key',
    legend: 'Legend', lg_blocks: 'Block statistics', lg_events: 'Event density', lg_events_note: 'kernel density, relative',
    lg_industry_vacancy: 'Industrial spaces · vacancy', lg_industry_rent: 'Industrial spaces · rent', u_persons: 'persons',
    u_enterprises: 'enterprises', u_events: 'events', u_percent: '%', u_rent: 'yuan/m²·month', lg_no_data: 'no data or <k',
    lg_fades: 'fades out as buildings appear', lg_low: 'low', lg_high: 'high', lg_sensors: 'Sensor alerts',
    lg_alert0: 'normal', lg_alert1: 'level 1', lg_alert2: 'level 2', lg_alert3: 'level 3', lg_alert_area: 'Alert impact area',
    lg_selection: 'Selection and analysis', map_label: 'Map of Luohu district', draw_area: 'Drawn area',
  },
});
