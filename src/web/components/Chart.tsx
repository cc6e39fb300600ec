import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** A CSS custom property of styles.css (`--done`), so the chart follows light and dark mode. */
  color: string;
  values: (number | null)[];
  bars?: boolean;
}

/** Axis figures with enough digits to tell small amounts apart (0.0012, not 0.001). */
const tickLabel = (v: number) => (v === 0 ? '0' : String(Number(v.toPrecision(2))));

const cssColor = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/**
 * A time chart (uPlot) of `series` over `times` (epoch ms), as wide as its box. The figures it draws are
 * also in a table beside it on each page: the chart is for the eye, the table for everyone.
 */
export function Chart({
  title,
  times,
  series,
  unit,
}: {
  title: string;
  times: number[];
  series: ChartSeries[];
  unit: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const data = (): uPlot.AlignedData => [times.map((t) => t / 1000), ...series.map((s) => s.values)];
  // Drawn once per kind of chart; new figures only replace its data.
  const kind = `${title}|${unit}|${series.map((s) => `${s.label}:${s.color}:${s.bars}`).join(',')}`;
  useEffect(() => {
    const target = box.current;
    if (!target) return;
    const fg = cssColor('--muted');
    const grid = cssColor('--line');
    const axis = { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid } };
    const chart = new uPlot(
      {
        title,
        width: Math.max(target.clientWidth, 280),
        height: 220,
        scales: { x: { time: true } },
        axes: [
          axis,
          { ...axis, label: unit, size: 60, values: (_u: uPlot, splits: number[]) => splits.map(tickLabel) },
        ],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: cssColor(s.color),
            fill: s.bars ? cssColor(s.color) : undefined,
            width: 2,
            ...(s.bars && { paths: uPlot.paths.bars?.({ size: [0.6, 40] }) }),
          })),
        ],
      },
      data(),
      target,
    );
    plot.current = chart;
    const resize = () => chart.setSize({ width: Math.max(target.clientWidth, 280), height: 220 });
    addEventListener('resize', resize);
    return () => {
      removeEventListener('resize', resize);
      chart.destroy();
      plot.current = undefined;
    };
  }, [kind]);
  useEffect(() => {
    plot.current?.setData(data());
  }, [times, series]);
  return <div class="chart" ref={box} role="img" aria-label={`${title} (the table below has the figures)`} />;
}
