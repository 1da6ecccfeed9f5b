// Same-run baseline for `reelflow bench compress --ladder`: sharp making the whole ladder.
//
//   node ladder.mjs --list FILES.txt --ladder 1280x720@85,640x360@82,320x180@80 [--out DIR]
//                   [--rounds N]
//
// Per image, one decode and a clone() per rung, as sharp's docs advise for several outputs:
//   const img = sharp(buf).rotate();
//   img.clone().resize(w, h, {fit: 'inside', withoutEnlargement: true}).webp({quality, effort: 4})
// on one libvips thread (sharp.concurrency(1)) and no operation cache: figures are per core.
// --out writes DIR/<index>-<rung index>.webp for the SSIM comparison.
// Prints one JSON line: images (per round), seconds and cpu_seconds of the fastest round (by
// CPU), every round's cpu_seconds, sizes per rung, failed, versions.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values } = parseArgs({
  options: {
    list: { type: 'string' },
    ladder: { type: 'string' },
    out: { type: 'string' },
    rounds: { type: 'string', default: '1' },
  },
});
if (!values.list || !values.ladder) {
  console.error('usage: node ladder.mjs --list FILES.txt --ladder WxH@Q,... [--out DIR]');
  process.exit(2);
}
const rungs = values.ladder.split(',').map((part) => {
  const [box, quality] = part.split('@');
  const [width, height] = box.split('x').map(Number);
  return { width, height, quality: Number(quality) };
});
const paths = readFileSync(values.list, 'utf8').split('\n').filter((line) => line.trim() !== '');
const inputs = paths.map((path) => readFileSync(path));

sharp.concurrency(1);
sharp.cache(false);

const ladder = async (buf) => {
  try {
    const img = sharp(buf).rotate();
    return await Promise.all(
      rungs.map((rung) =>
        img
          .clone()
          .resize(rung.width, rung.height, { fit: 'inside', withoutEnlargement: true })
          .webp({ quality: rung.quality, effort: 4 })
          .toBuffer({ resolveWithObject: true }),
      ),
    );
  } catch {
    return null;
  }
};

if (inputs.length > 0) await ladder(inputs[0]); // warm-up

const outputs = new Array(inputs.length);
const rounds = Math.max(1, Number.parseInt(values.rounds, 10) || 1);
const cpuRounds = [];
let best = { cpu: Infinity, seconds: 0 };
for (let round = 0; round < rounds; round += 1) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < inputs.length; i += 1) outputs[i] = await ladder(inputs[i]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = process.cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  cpuRounds.push(cpu);
  if (cpu < best.cpu) best = { cpu, seconds };
}

if (values.out) {
  mkdirSync(values.out, { recursive: true });
  outputs.forEach((out, i) => {
    if (out) out.forEach((one, r) => writeFileSync(join(values.out, `${i}-${r}.webp`), one.data));
  });
}
console.log(
  JSON.stringify({
    images: inputs.length,
    seconds: best.seconds,
    cpu_seconds: best.cpu,
    cpu_rounds: cpuRounds,
    failed: outputs.filter((out) => out === null).length,
    sizes: outputs.map((out) => (out ? out.map((one) => one.info.size) : null)),
    sharp: sharp.versions.sharp,
    libvips: sharp.versions.vips,
  }),
);
