// Renders traffic-log lines for people (`wsgate tail`): one line per message with time, connection, direction
// arrow, type, size and preview. Pure: a JSON line in, a display line (or nothing) out.
import {
  connOf,
  type EventLine,
  type EventTextOptions,
  isShownEvent,
  paint,
  str,
  wsEventText,
} from '../log/event-text.ts';

export type RenderOptions = EventTextOptions & {
  /** Show individual frames too (default: messages, opens, closes and violations only). */
  frames: boolean;
  conn?: string | undefined;
  dir?: 'toUpstream' | 'toClient' | undefined;
  /** Case-insensitive text the line must contain. */
  grep?: string | undefined;
};

function clock(time: unknown): string {
  if (typeof time !== 'string') return '--:--:--.---';
  const m = /T(\d\d:\d\d:\d\d\.\d{3})/.exec(time);
  return m ? m[1]! : time;
}

/** One display line for a traffic-log line, or undefined when it is not shown (filtered, or not a WebSocket event). */
export function renderTrafficLine(raw: string, options: RenderOptions): string | undefined {
  let line: EventLine;
  try {
    line = JSON.parse(raw) as EventLine;
  } catch {
    return undefined;
  }
  const event = str(line.event);
  if (!isShownEvent(event)) return undefined;
  if (options.conn !== undefined && connOf(line) !== options.conn) return undefined;
  if (options.dir !== undefined && line.dir !== undefined && line.dir !== options.dir) return undefined;
  if (event === 'ws.frame' && !options.frames) return undefined;
  const c = options.color;
  const head = `${paint(c, 'dim', clock(line.time))} ${paint(c, 'bold', connOf(line))}`;
  const body = wsEventText(line, options);
  if (body === undefined) return undefined;
  const out = `${head} ${body}`;
  if (options.grep !== undefined && !out.toLowerCase().includes(options.grep.toLowerCase())) return undefined;
  return out;
}
