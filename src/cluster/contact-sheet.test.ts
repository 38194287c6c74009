import { describe, expect, it } from 'vitest';
import { escapeHtml, renderContactSheet } from './contact-sheet.js';

describe('renderContactSheet', () => {
  it('renders one row per person with inline images, escaping names', () => {
    const html = renderContactSheet({
      title: 'My <photos>',
      summary: '2 people in 3 faces',
      people: [
        {
          name: 'Person 1',
          faces: [
            { src: 'data:image/jpeg;base64,AAA', title: 'a/1.jpg' },
            { src: 'data:image/jpeg;base64,BBB', title: 'b/"2".jpg', odd: true },
          ],
        },
        { name: 'Person 2', faces: [{ src: 'data:image/jpeg;base64,CCC', title: 'c.jpg' }] },
      ],
      notes: ['no face: d.jpg'],
    });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<section>/g)).toHaveLength(2);
    expect(html.match(/<img /g)).toHaveLength(3);
    expect(html).toContain('My &lt;photos&gt;');
    expect(html).toContain('b/&quot;2&quot;.jpg');
    expect(html).toContain('class="odd"');
    expect(html).toContain('2 faces');
    expect(html).toContain('1 face<');
    expect(html).toContain('no face: d.jpg');
  });

  it('escapes every HTML special character', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
