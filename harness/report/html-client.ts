/**
 * The browser script of the HTML report: draws the uPlot charts from the JSON embedded in the page, with
 * fault phases shaded. Plain ES2017, no imports; uPlot is inlined before it.
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var NINES = [[0, '0%'], [0.30103, '50%'], [1, '90%'], [2, '99%'], [3, '99.9%'], [4, '99.99%']];

  function fmtMs(v) {
    if (v == null) return '—';
    if (v === 0) return '0';
    if (v < 1) return v.toFixed(2) + ' ms';
    if (v < 100) return v.toFixed(1) + ' ms';
    if (v < 1000) return v.toFixed(0) + ' ms';
    return (v / 1000).toFixed(2) + ' s';
  }
  function pctFromNines(x) {
    var p = 100 * (1 - Math.pow(10, -x));
    return (p >= 99.9 ? p.toFixed(2) : p.toFixed(1)) + '%';
  }

  function decorate(u) {
    var ctx = u.ctx;
    var px = devicePixelRatio;
    ctx.save();
    var xe = u.valToPos(data.durationS, 'x', true);
    if (xe > u.bbox.left && xe < u.bbox.left + u.bbox.width) {
      ctx.strokeStyle = 'rgba(60, 60, 70, 0.55)';
      ctx.setLineDash([4 * px, 4 * px]);
      ctx.lineWidth = px;
      ctx.beginPath();
      ctx.moveTo(xe, u.bbox.top);
      ctx.lineTo(xe, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = 'rgba(60, 60, 70, 0.8)';
      ctx.font = (11 * px) + 'px system-ui, sans-serif';
      ctx.textBaseline = 'top';
      ctx.fillText('load ends', xe + 4 * px, u.bbox.top + 4 * px);
    }
    data.faults.forEach(function (f) {
      var x0 = u.valToPos(f.fromS, 'x', true);
      var x1 = u.valToPos(f.toS, 'x', true);
      var left = Math.max(u.bbox.left, Math.min(x0, x1));
      var right = Math.min(u.bbox.left + u.bbox.width, Math.max(x0, x1));
      if (right <= left) return;
      ctx.fillStyle = 'rgba(220, 53, 69, 0.10)';
      ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
      ctx.fillStyle = 'rgba(160, 30, 45, 0.85)';
      ctx.font = (11 * px) + 'px system-ui, sans-serif';
      ctx.textBaseline = 'top';
      ctx.fillText('fault: ' + f.name, left + 4 * px, u.bbox.top + 4 * px);
    });
    ctx.restore();
  }

  function draw(chart) {
    var el = document.querySelector('[data-chart="' + chart.id + '"] .plot');
    var width = Math.max(320, el.clientWidth || 560);
    var isTime = chart.xKind === 'time';
    var series = [{ label: isTime ? 'time (s)' : 'percentile', value: function (u, v) { return v == null ? '—' : isTime ? v + ' s' : pctFromNines(v); } }];
    chart.series.forEach(function (s) {
      series.push({
        label: s.label,
        stroke: s.color,
        width: 2,
        dash: s.dash ? [6, 4] : undefined,
        spanGaps: false,
        points: { show: false },
        value: function (u, v) { return v == null ? '—' : chart.xKind === 'nines' ? fmtMs(v) : (Math.round(v * 100) / 100).toString(); },
      });
    });
    var opts = {
      width: width,
      height: 260,
      scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } } },
      axes: [
        isTime
          ? { label: chart.xLabel, labelSize: 24 }
          : { label: chart.xLabel, labelSize: 24, splits: function () { return NINES.map(function (n) { return n[0]; }); }, values: function () { return NINES.map(function (n) { return n[1]; }); } },
        { label: chart.yLabel, labelSize: 28, size: 60, values: chart.xKind === 'nines' ? function (u, splits) { return splits.map(fmtMs); } : undefined },
      ],
      series: series,
      legend: { live: true },
      cursor: { points: { show: false } },
      hooks: isTime ? { drawClear: [decorate] } : {},
    };
    new uPlot(opts, [chart.xs].concat(chart.series.map(function (s) { return s.values; })), el);
  }

  data.charts.forEach(draw);
  document.body.setAttribute('data-charts-ready', String(data.charts.length));
})();
`;
