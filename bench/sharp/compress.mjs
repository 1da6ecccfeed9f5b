// Same-run baseline for `reelflow bench compress`: the seed's sharp pipeline, one image at a time.
//
//   node compress.mjs --list FILES.txt [--out DIR] [--rounds N]
//
// FILES.txt holds one image path a line. Every file is read into memory first; then, after one
// untimed warm-up image, each round compresses every image in turn with
//   sharp(buf).rotate().resize(1280, 720, {fit: 'inside', withoutEnlargement: true})
//     .webp({quality: 85, effort: 4})
// on one libvips thread (sharp.concurrency(1)) and no operation cache, so the figure is per core.
// --out writes each output as DIR/<index>.webp (index in list order) for an SSIM comparison.
// Prints one JSON line: images, seconds (wall), cpu_seconds (this process, all threads),
// images_per_second, output_bytes (one round), failed (inputs sharp could not decode; their size
// is null), per-image output sizes and dimensions, and the sharp/libvips/libwebp versions.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values } = parseArgs({
  options: {
    list: { type: 'string' },
    out: { type: 'string' },
    rounds: { type: 'string', default: '1' },
  },
});
if (!values.list) {
  console.error('usage: node compress.mjs --list FILES.txt [--out DIR] [--rounds N]');
  process.exit(2);
}
const rounds = Math.max(1, Number.parseInt(values.rounds, 10) || 1);
const paths = readFileSync(values.list, 'utf8').split('\n').filter((line) => line.trim() !== '');
const inputs = paths.map((path) => readFileSync(path));

sharp.concurrency(1);
sharp.cache(false);

const compress = async (buf) => {
  try {
    return await sharp(buf)
      .rotate()
      .resize(1280, 720, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 85, effort: 4 })
      .toBuffer({ resolveWithObject: true });
  } catch {
    return null; // not decodable by libvips: counted in `failed`, size null
  }
};

if (inputs.length > 0) await compress(inputs[0]); // warm-up: loads libvips' code paths

const outputs = new Array(inputs.length);
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (let round = 0; round < rounds; round += 1) {
  for (let i = 0; i < inputs.length; i += 1) {
    outputs[i] = await compress(inputs[i]);
  }
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);

if (values.out) {
  mkdirSync(values.out, { recursive: true });
  outputs.forEach((out, i) => {
    if (out) writeFileSync(join(values.out, `${i}.webp`), out.data);
  });
}
const images = inputs.length * rounds;
const sizes = outputs.map((out) => (out ? out.info.size : null));
console.log(
  JSON.stringify({
    images,
    rounds,
    seconds,
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    images_per_second: seconds > 0 ? images / seconds : 0,
    output_bytes: sizes.reduce((a, b) => a + (b ?? 0), 0),
    failed: sizes.filter((size) => size === null).length,
    sizes,
    dimensions: outputs.map((out) => (out ? [out.info.width, out.info.height] : null)),
    sharp: sharp.versions.sharp,
    libvips: sharp.versions.vips,
    libwebp: sharp.versions.webp ?? null,
  }),
);
