// Builds a test extension (test/extensions/<name>) into a .vsix that `code-server
// --install-extension` accepts: esbuild bundles extension.mjs and everything it imports
// (@google/genai and its dependencies) into one CommonJS file, and a small zip writer packs it
// with the two files a VSIX needs beside the extension's own package.json. No vsce: code-server
// reads extension/package.json from the zip; the manifest and content types make it a valid VSIX.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';

export interface ZipEntry {
  name: string;
  data: Buffer;
}

/** A zip archive (deflate, no extras): enough for a VSIX. */
export function zip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const packed = deflateRawSync(e.data);
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date: 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += local.length + name.length + packed.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

const xml = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

function vsixManifest(p: { name: string; publisher: string; version: string; displayName?: string; description?: string }): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">
  <Metadata>
    <Identity Language="en-US" Id="${xml(p.name)}" Version="${xml(p.version)}" Publisher="${xml(p.publisher)}" />
    <DisplayName>${xml(p.displayName ?? p.name)}</DisplayName>
    <Description xml:space="preserve">${xml(p.description ?? '')}</Description>
  </Metadata>
  <Installation><InstallationTarget Id="Microsoft.VisualStudio.Code" /></Installation>
  <Dependencies />
  <Assets><Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true" /></Assets>
</PackageManifest>
`;
}

const CONTENT_TYPES = `<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension=".json" ContentType="application/json" />
  <Default Extension=".js" ContentType="application/javascript" />
  <Default Extension=".vsixmanifest" ContentType="text/xml" />
</Types>
`;

/** Bundles and packs test/extensions/<srcDir> into outFile; returns the extension's id (publisher.name). */
export async function buildVsix(srcDir: string, outFile: string): Promise<string> {
  const pkgText = readFileSync(join(srcDir, 'package.json'));
  const pkg = JSON.parse(pkgText.toString('utf8')) as { name: string; publisher: string; version: string; displayName?: string; description?: string };
  const out = await build({
    entryPoints: [join(srcDir, 'extension.mjs')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    write: false,
    logLevel: 'silent',
    outfile: 'extension.js',
  });
  const js = out.outputFiles.find((f) => f.path.endsWith('extension.js'));
  if (!js) throw new Error(`esbuild produced no extension.js for ${srcDir}`);
  writeFileSync(
    outFile,
    zip([
      { name: 'extension.vsixmanifest', data: Buffer.from(vsixManifest(pkg)) },
      { name: '[Content_Types].xml', data: Buffer.from(CONTENT_TYPES) },
      { name: 'extension/package.json', data: pkgText },
      { name: 'extension/dist/extension.js', data: Buffer.from(js.contents) },
    ]),
  );
  return `${pkg.publisher}.${pkg.name}`;
}
