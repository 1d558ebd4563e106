// Renders only the rows in view (plus a margin), so 10,000 messages or 2,000 conversations cost
// what 30 do. Rows may differ in height: each is measured once shown, and until then counts as
// `estimate`. Optionally it sticks to the bottom (a chat) and keeps what is in view in place when
// rows are added above (older history).
import type { ComponentChildren, HTMLAttributes, JSX } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';

export interface VirtualListProps {
  count: number;
  keyOf: (index: number) => string;
  estimate: number;
  render: (index: number) => ComponentChildren;
  /** Keep the view at the bottom when it is there and rows are added (chat). */
  stickToBottom?: boolean;
  /** Called when the view comes near the top (load older rows). */
  onNearTop?: () => void;
  /** Called when the view reaches the bottom (everything seen). */
  onAtBottom?: () => void;
  className?: string;
  /** Element attributes for the scrolling container (role, aria-label, ...). */
  containerProps?: HTMLAttributes<HTMLDivElement>;
  /** The element type of the rows' parent and of each row. */
  listTag?: 'ul' | 'ol' | 'div';
  itemTag?: 'li' | 'div';
  /** Scroll this index into view when it (or `scrollToken`) changes. */
  scrollToIndex?: number | null;
  /** A new value scrolls to `scrollToIndex` again (the same row asked for again), centred. */
  scrollToken?: number | undefined;
  overscan?: number;
}

const NEAR_TOP_PX = 300;
const AT_BOTTOM_PX = 40;

export function VirtualList(props: VirtualListProps): JSX.Element {
  const {
    count,
    keyOf,
    estimate,
    render,
    stickToBottom = false,
    onNearTop,
    onAtBottom,
    overscan = 600,
  } = props;
  const container = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const [measureVersion, setMeasureVersion] = useState(0);
  const atBottom = useRef(stickToBottom);
  const anchor = useRef<{ key: string; index: number; offset: number } | null>(null);

  const offsets = useMemo(() => {
    const result = new Float64Array(count + 1);
    for (let i = 0; i < count; i++) {
      result[i + 1] = (result[i] ?? 0) + (heights.current.get(keyOf(i)) ?? estimate);
    }
    return result;
    // measureVersion: heights changed
  }, [count, keyOf, estimate, measureVersion]);
  const total = offsets[count] ?? 0;

  // First and last rows in view, by binary search on the offsets.
  const findIndex = (y: number): number => {
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((offsets[middle + 1] ?? 0) <= y) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    return Math.min(low, Math.max(0, count - 1));
  };
  const start = count === 0 ? 0 : findIndex(Math.max(0, scrollTop - overscan));
  const end = count === 0 ? -1 : findIndex(scrollTop + viewport + overscan);

  useLayoutEffect(() => {
    const element = container.current;
    if (!element) {
      return;
    }
    const observer = new ResizeObserver(() => {
      setViewport(element.clientHeight);
    });
    observer.observe(element);
    setViewport(element.clientHeight);
    return () => observer.disconnect();
  }, []);

  // Rows added above (older history) or measured taller above: keep the row in the middle of
  // the view where it was, so what is being read does not move.
  useLayoutEffect(() => {
    const element = container.current;
    if (!element) {
      return;
    }
    if (stickToBottom && atBottom.current) {
      element.scrollTop = element.scrollHeight;
      return;
    }
    const held = anchor.current;
    if (!held) {
      return;
    }
    let index = keyOf(held.index) === held.key ? held.index : -1;
    for (let i = 0; index < 0 && i < count; i++) {
      if (keyOf(i) === held.key) {
        index = i;
      }
    }
    if (index < 0) {
      return;
    }
    held.index = index;
    const top = (offsets[index] ?? 0) + held.offset;
    if (Math.abs(top - element.scrollTop) > 1) {
      element.scrollTop = top;
    }
  });

  useEffect(() => {
    if (props.scrollToIndex === null || props.scrollToIndex === undefined) {
      return;
    }
    const element = container.current;
    const index = props.scrollToIndex;
    const top = offsets[index] ?? 0;
    const bottom = offsets[index + 1] ?? top;
    if (!element) {
      return;
    }
    if (props.scrollToken !== undefined) {
      // A row asked for by name (a search result): centred, and held there while the rows
      // around it are measured, rather than kept at the bottom.
      element.scrollTop = Math.max(0, top - (element.clientHeight - (bottom - top)) / 2);
      atBottom.current = false;
      anchor.current = { key: keyOf(index), index, offset: element.scrollTop - top };
    } else if (top < element.scrollTop || bottom > element.scrollTop + element.clientHeight) {
      element.scrollTop = top;
    }
  }, [props.scrollToIndex, props.scrollToken]);

  const onScroll = useCallback(() => {
    const element = container.current;
    if (!element) {
      return;
    }
    setScrollTop(element.scrollTop);
    atBottom.current =
      element.scrollHeight - element.scrollTop - element.clientHeight <= AT_BOTTOM_PX;
    if (count > 0) {
      const middle = findIndex(element.scrollTop + element.clientHeight / 2);
      anchor.current = {
        key: keyOf(middle),
        index: middle,
        offset: element.scrollTop - (offsets[middle] ?? 0),
      };
    }
    if (element.scrollTop < NEAR_TOP_PX) {
      onNearTop?.();
    }
    if (atBottom.current) {
      onAtBottom?.();
    }
  }, [offsets, count, keyOf, onNearTop, onAtBottom]);

  // Measures the rows just rendered; a row above the view that changed height moves the view
  // by as much, so what is read does not jump.
  const measure = useCallback((key: string, element: HTMLElement | null) => {
    if (!element) {
      return;
    }
    const height = element.offsetHeight;
    const known = heights.current.get(key);
    if (height > 0 && known !== height) {
      heights.current.set(key, height);
      setMeasureVersion((v) => v + 1);
    }
  }, []);

  const ListTag = props.listTag ?? 'div';
  const ItemTag = props.itemTag ?? 'div';
  const rows: JSX.Element[] = [];
  for (let i = start; i <= end; i++) {
    const key = keyOf(i);
    rows.push(
      <ItemTag
        key={key}
        class="vrow"
        style={{ top: `${offsets[i] ?? 0}px` }}
        ref={(element: HTMLElement | null) => {
          measure(key, element);
        }}
      >
        {render(i)}
      </ItemTag>,
    );
  }

  return (
    <div
      ref={container}
      class={`vlist ${props.className ?? ''}`}
      onScroll={onScroll}
      {...props.containerProps}
    >
      <ListTag class="vlist-inner" style={{ height: `${total}px` }}>
        {rows}
      </ListTag>
    </div>
  );
}
