;;; test.el --- heapsight in headless Emacs with eglot  -*- lexical-binding: t; -*-

;; End-to-end test of heapsight in a real Emacs (Debian's 28 with its elpa-eglot 1.9):
;;   emacs --batch -q -l tests/editors/emacs/test.el
;; Configures eglot the way the README says, opens a file of a workspace that holds a real
;; capture in .heapsight/, waits for heapsight's Flymake diagnostics, asks eglot for the
;; quick fixes at the diagnostic on the expected line, applies the expected one through
;; eglot's own code-action path, and writes what it saw to a JSON file that
;; tests/tests/editors.rs compares with the expectations.  Exits non-zero when a step
;; cannot be done.
;;
;; Environment: the same HEAPSIGHT_* variables as tests/editors/nvim/test.lua
;; (HEAPSIGHT_SERVER, HEAPSIGHT_TEST_WORKSPACE, HEAPSIGHT_TEST_FILE, HEAPSIGHT_TEST_LINE,
;; HEAPSIGHT_TEST_MAP_FROM, HEAPSIGHT_TEST_FIX_TITLE, HEAPSIGHT_TEST_RESULT,
;; HEAPSIGHT_TEST_TIMEOUT_MS).

(require 'package)
(package-initialize)
(require 'eglot)
(require 'flymake)
(require 'json)
(require 'subr-x)

(defvar heapsight-test-result (list (cons 'emacs emacs-version)
                                    (cons 'eglot (if (boundp 'eglot--version) eglot--version "1.9"))))

(defun heapsight-test--env (name)
  (let ((value (getenv name)))
    (if (or (null value) (string-empty-p value))
        (heapsight-test--fail (format "%s is not set" name))
      value)))

(defun heapsight-test--set (key value)
  (setq heapsight-test-result (cons (cons key value) (assq-delete-all key heapsight-test-result))))

(defun heapsight-test--write ()
  (with-temp-file (getenv "HEAPSIGHT_TEST_RESULT")
    (let ((json-encoding-pretty-print t))
      (insert (json-encode heapsight-test-result)))))

(defun heapsight-test--fail (message)
  (heapsight-test--set 'error message)
  (heapsight-test--write)
  (princ (format "heapsight emacs test: %s\n" message) #'external-debugging-output)
  (kill-emacs 1))

(defun heapsight-test--wait (timeout predicate)
  "Runs the event loop until PREDICATE is true or TIMEOUT seconds pass."
  (let ((deadline (+ (float-time) timeout))
        (done nil))
    (while (and (not (setq done (funcall predicate)))
                (< (float-time) deadline))
      (accept-process-output nil 0.1))
    done))

(defun heapsight-test--diagnostics ()
  (seq-filter (lambda (d) (cdr (assoc 'eglot-lsp-diag (flymake-diagnostic-data d))))
              (flymake-diagnostics)))

(defun heapsight-test--run ()
  (let* ((server (heapsight-test--env "HEAPSIGHT_SERVER"))
         (workspace (file-name-as-directory (heapsight-test--env "HEAPSIGHT_TEST_WORKSPACE")))
         (file (expand-file-name (heapsight-test--env "HEAPSIGHT_TEST_FILE") workspace))
         (line (string-to-number (heapsight-test--env "HEAPSIGHT_TEST_LINE")))
         (map-from (getenv "HEAPSIGHT_TEST_MAP_FROM"))
         (timeout (/ (string-to-number (or (getenv "HEAPSIGHT_TEST_TIMEOUT_MS") "60000")) 1000.0))
         (settings (if (and map-from (not (string-empty-p map-from)))
                       `(:pathMappings [(:from ,map-from :to ,(directory-file-name workspace))])
                     '())))
    (heapsight-test--env "HEAPSIGHT_TEST_RESULT")
    ;; The README's configuration, with the binary under test.
    (add-to-list 'eglot-server-programs
                 `((js-mode js-ts-mode typescript-ts-mode tsx-ts-mode)
                   . (,server "lsp" :initializationOptions ,(or settings '(:snapshotDir ".heapsight")))))
    (setq-default eglot-workspace-configuration `(:heapsight ,(or settings '(:snapshotDir ".heapsight"))))
    ;; The workspace is the project (project.el would otherwise climb to an enclosing
    ;; repository).
    (setq project-find-functions (list (lambda (_dir) (cons 'transient workspace))))
    (setq eglot-sync-connect t)
    (find-file file)
    (heapsight-test--set 'mode (symbol-name major-mode))
    (apply #'eglot (eglot--guess-contact))
    (unless (eglot-current-server)
      (heapsight-test--fail "eglot did not connect"))
    (let ((appeared (heapsight-test--wait
                     timeout
                     (lambda ()
                       (or (heapsight-test--diagnostics)
                           (progn (flymake-start) nil))))))
      (heapsight-test--set
       'diagnostics
       (vconcat
        (mapcar (lambda (d)
                  (let ((lsp (cdr (assoc 'eglot-lsp-diag (flymake-diagnostic-data d)))))
                    `((line . ,(line-number-at-pos (flymake-diagnostic-beg d)))
                      (type . ,(symbol-name (flymake-diagnostic-type d)))
                      (text . ,(flymake-diagnostic-text d))
                      (message . ,(plist-get lsp :message))
                      (code . ,(plist-get lsp :code))
                      (source . ,(plist-get lsp :source)))))
                (heapsight-test--diagnostics))))
      (unless appeared
        (heapsight-test--fail (format "no heapsight diagnostic in %s within %s s" file timeout))))
    (let ((target (seq-find (lambda (d) (= (line-number-at-pos (flymake-diagnostic-beg d)) line))
                            (heapsight-test--diagnostics))))
      (unless target
        (heapsight-test--fail (format "no heapsight diagnostic on line %d" line)))
      (let* ((beg (flymake-diagnostic-beg target))
             (end (flymake-diagnostic-end target))
             (actions (eglot-code-actions beg end "quickfix"))
             (fix-title (getenv "HEAPSIGHT_TEST_FIX_TITLE"))
             (chosen (if (and fix-title (not (string-empty-p fix-title)))
                         (seq-find (lambda (a) (equal (plist-get a :title) fix-title)) actions)
                       (car actions)))
             (before (buffer-modified-tick)))
        (heapsight-test--set 'actions (vconcat (mapcar (lambda (a) (plist-get a :title)) actions)))
        (unless chosen
          (heapsight-test--fail (format "no quickfix code action %s at line %d" (or fix-title "") line)))
        (heapsight-test--set 'applied (plist-get chosen :title))
        ;; eglot's own path for the action picked from its menu (given one action of the kind,
        ;; it applies it without asking).
        (eglot--read-execute-code-action (list chosen) (eglot--current-server-or-lose) "quickfix")
        (unless (heapsight-test--wait timeout (lambda () (/= before (buffer-modified-tick))))
          (heapsight-test--fail "applying the quick fix did not change the buffer"))
        (heapsight-test--set 'text (buffer-substring-no-properties (point-min) (point-max)))))
    (heapsight-test--write)
    (kill-emacs 0)))

(condition-case err
    (heapsight-test--run)
  (error (heapsight-test--fail (format "error: %S" err))))

;;; test.el ends here
