// java.util.Date#toString() ("EEE MMM dd HH:mm:ss zzz yyyy"), the form ZooKeeper's
// tools print times in: its snapshot dump (Paddock prints it in UTC) and zkCli.sh
// (in the local time zone, as the JVM would).

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** `ms` since the epoch as Java's Date prints it, in UTC or in this process's time zone; a value no Date can hold as a number. */
export function javaDate(ms: number, zone: 'UTC' | 'local'): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  if (zone === 'UTC') {
    return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
  }
  const name = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? 'UTC';
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${name} ${d.getFullYear()}`;
}
