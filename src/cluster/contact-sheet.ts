/**
 * The contact sheet of a clustering: one self-contained HTML page, one row per person found, the
 * face crops inline as `data:` URLs (no files beside it, so it can be mailed or opened anywhere).
 * Pure string building; the caller makes the thumbnails (sharp in Node, a canvas in a browser).
 *
 * Platform-neutral and pure. Every text that comes from outside (file names, titles) is escaped.
 */

/** One face on the sheet. */
export interface SheetFace {
  /** `data:image/jpeg;base64,...` (or any URL the page may load). */
  src: string;
  /** Tooltip and caption source, e.g. the photo's path. */
  title: string;
  /** Marks a face that does not belong to its row's majority (when the truth is known). */
  odd?: boolean;
}

/** One row: a person found. */
export interface SheetPerson {
  /** Row heading, e.g. `Person 3` or the majority folder name. */
  name: string;
  faces: SheetFace[];
}

export interface ContactSheet {
  title: string;
  /** One line under the title, e.g. "8 people in 40 faces (chinese-whispers, threshold 0.55)". */
  summary: string;
  people: SheetPerson[];
  /** Lines listed at the end (photos with no face, unreadable files). */
  notes?: string[];
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/**
 * Renders the sheet as a complete HTML document.
 *
 * @example
 * const html = renderContactSheet({ title: 'photos', summary: '2 people', people: [{ name: 'Person 1', faces }] });
 */
export function renderContactSheet(sheet: ContactSheet): string {
  const rows = sheet.people
    .map((p, i) => {
      const faces = p.faces
        .map(
          (f) =>
            `<figure${f.odd ? ' class="odd"' : ''}><img src="${escapeHtml(f.src)}" alt="" title="${escapeHtml(f.title)}" loading="lazy"><figcaption>${escapeHtml(f.title)}</figcaption></figure>`,
        )
        .join('');
      return `<section><h2>${i + 1}. ${escapeHtml(p.name)} <small>${p.faces.length} face${p.faces.length === 1 ? '' : 's'}</small></h2><div class="row">${faces}</div></section>`;
    })
    .join('\n');
  const notes = sheet.notes?.length
    ? `<footer><ul>${sheet.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul></footer>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(sheet.title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; background: #fafafa; color: #222; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
h2 small { color: #777; font-weight: normal; }
.row { display: flex; flex-wrap: wrap; gap: 6px; }
figure { margin: 0; width: 96px; }
figure img { width: 96px; height: 96px; border-radius: 4px; display: block; }
figure.odd img { outline: 3px solid #d33; }
figcaption { font-size: 10px; color: #666; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
footer { margin-top: 2rem; font-size: .85rem; color: #666; }
</style>
</head>
<body>
<h1>${escapeHtml(sheet.title)}</h1>
<p>${escapeHtml(sheet.summary)}</p>
${rows}
${notes}
</body>
</html>
`;
}
